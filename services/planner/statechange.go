package planner

import (
	"context"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/stateindex"
)

// recheckOpenFindings records a pending change for the object of every open
// finding of w after its state changed under the planner — an apply may
// have reverted a change or applied a pending edit, an import adopted an
// unimported object, a `state rm` orphaned one — or after a watcher relisted
// its cluster (relist.go). The next plan (targeted at
// those objects, after the usual debounce) resolves what is gone and
// reports what is new, instead of waiting for the full-plan interval.
// Churn resolves when its fields stop flipping and unmanaged findings on
// full plans, so neither is planned for.
func (s *Service) recheckOpenFindings(ctx context.Context, w *workspace, why string) error {
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
		w.log.Info(why+": planning the objects of open findings again", "findings", n)
	}
	return nil
}

// recheckRemoved records a pending change for every object that prev
// managed and next no longer does (a `state rm`, a destroy): no open finding
// names it yet, and the next plan, finding no address for it in the state,
// is a full one. So an object dropped from the state while it stays live is
// reported as unimported seconds later, not at the next full-plan interval.
func (s *Service) recheckRemoved(ctx context.Context, w *workspace, prev, next *stateindex.Index) error {
	now := time.Now()
	n := 0
	for _, e := range prev.Entries() {
		if e.Object.Name == "" {
			continue
		}
		ref := e.Object.Ref(w.cluster)
		if next.Manages(ref) {
			continue
		}
		if err := s.addPending(ctx, w.name, &events.ObjectChanged{Object: ref, Change: changeRecheck}, nil, now); err != nil {
			return err
		}
		n++
	}
	if n > 0 {
		w.log.Info("state changed: objects left the state; planning them again", "objects", n)
	}
	return nil
}
