package planner

import (
	"context"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
)

// recheckOpenFindings records a pending change for the object of every open
// finding of w after its state changed under the planner: an apply may
// have reverted a change or applied a pending edit, an import adopted an
// unimported object, a `state rm` orphaned one. The next plan (targeted at
// those objects, after the usual debounce) resolves what is gone and
// reports what is new, instead of waiting for the full-plan interval.
// Churn resolves when its fields stop flipping and unmanaged findings on
// full plans, so neither is planned for.
func (s *Service) recheckOpenFindings(ctx context.Context, w *workspace) error {
	open, err := s.store.List(ctx, findings.Filter{Workspace: w.name, State: events.StateOpen})
	if err != nil {
		return err
	}
	now := time.Now()
	n := 0
	for _, f := range open {
		if f.Class == events.ClassChurn || f.Class == events.ClassUnmanaged {
			continue
		}
		oc := &events.ObjectChanged{Object: f.Object, Change: changeRecheck}
		if err := s.addPending(ctx, w.name, oc, nil, now); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		w.log.Info("state changed: planning the objects of open findings again", "findings", n)
	}
	return nil
}
