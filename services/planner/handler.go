package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// handle maps one object.changed to the workspaces it concerns, records it
// as pending for each, and tracks field ownership flips (churn).
func (s *Service) handle(ctx context.Context, e cloudevents.Event, d events.Data) events.Result {
	if h, ok := d.(*events.ClusterHealth); ok {
		return s.handleHealth(ctx, h)
	}
	oc, ok := d.(*events.ObjectChanged)
	if !ok {
		return events.Ack()
	}
	now := time.Now()
	writes := classify.Writes(oc)
	var managed []managedBy
	var targets []string
	anyUnknown := false
	for _, w := range s.workspaces {
		if w.cluster != "" && w.cluster != oc.Object.Cluster {
			continue
		}
		ix := w.index()
		if ix == nil {
			// Not loaded yet: it may manage the object. Its first plan
			// covers the change.
			targets = append(targets, w.name)
			anyUnknown = true
			continue
		}
		if es := ix.LookupOwned(oc.Object, oc.Owners); len(es) > 0 {
			managed = append(managed, managedBy{w: w, entries: es})
			targets = append(targets, w.name)
		}
	}
	if len(managed) == 0 && !anyUnknown {
		for _, w := range s.workspaces {
			if (w.cluster == "" || w.cluster == oc.Object.Cluster) &&
				classify.InScope(w.cfg.Namespaces, w.cfg.Kinds, oc.Object, oc.Resource) {
				targets = append(targets, w.name)
			}
		}
	}
	if len(managed) > 0 && len(writes) > 0 {
		if err := s.observeChurn(ctx, e.ID(), oc, writes, managed, now); err != nil {
			return events.Nak(time.Second, "churn: "+err.Error())
		}
	}
	for _, ws := range dedupe(targets) {
		if err := s.addPending(ctx, ws, oc, writes, now); err != nil {
			return events.Nak(time.Second, err.Error())
		}
	}
	return events.Ack()
}

type managedBy struct {
	w       *workspace
	entries []stateindex.Entry
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// observeChurn records who wrote which field of a managed object, and
// opens or refreshes one churn finding per managing address when a field
// flips between managers ChurnFlips times within ChurnWindow.
func (s *Service) observeChurn(ctx context.Context, eventID string, oc *events.ObjectChanged, writes []events.PathOwner,
	managed []managedBy, now time.Time) error {
	kv := s.d.Buckets.State
	key := churnKey(oc.Object, tfkube.CanonicalGroup(oc.Object.Group, oc.Object.Kind))
	var rec classify.ChurnRecord
	for attempt := 0; ; attempt++ {
		rec = classify.ChurnRecord{}
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			_ = json.Unmarshal(e.Value(), &rec)
			rev = e.Revision()
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return err
		}
		for _, w := range writes {
			at := now
			if w.Time != nil && !w.Time.IsZero() {
				at = *w.Time
			}
			rec.Observe(w.Path, w.Manager, at, s.churnWindow)
		}
		rec.Prune(now, s.churnWindow)
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, b)
		} else {
			_, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			break
		}
		if !conflict(err) || attempt >= 10 {
			return fmt.Errorf("churn record %s: %w", key, err)
		}
	}
	paths, managers := rec.Churning(s.churnFlips, s.churnWindow, now)
	if len(paths) == 0 {
		return nil
	}
	for _, m := range managed {
		for _, en := range m.entries {
			r := classify.Churn(m.w.rules, en.Address, en.Object, paths, managers, now)
			serial := int64(0)
			if ix := m.w.index(); ix != nil {
				serial = ix.Serial
			}
			if err := s.upsertChurn(ctx, m.w, r, "observed-"+eventID, serial, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// upsertChurn opens a churn finding, or refreshes it; drift.detected goes
// out when it opens or its paths or managers change.
func (s *Service) upsertChurn(ctx context.Context, w *workspace, r classify.Result, planID string, serial int64, now time.Time) error {
	for attempt := 0; attempt < 10; attempt++ {
		old, rev, ok, err := s.store.GetRev(ctx, r.Finding.ID)
		if err != nil {
			return err
		}
		f := r.Finding
		outcome := findings.Opened
		if ok && old.State == events.StateOpen {
			f.FirstSeen = old.FirstSeen
			outcome = findings.Seen
			if findings.Material(old, f) {
				outcome = findings.Updated
			} else if now.Sub(old.LastSeen) < 10*time.Second {
				return nil // seen a moment ago: spare the write
			}
		}
		err = s.store.PutRev(ctx, f, rev)
		if conflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		if outcome == findings.Seen {
			return nil
		}
		if _, err := s.pub.Publish(ctx, &events.DriftDetected{Finding: f, Excerpt: r.Excerpt, PlanID: planID, Reason: r.Reason, StateSerial: serial}); err != nil {
			prev := map[string]events.Finding{}
			if ok {
				prev[f.ID] = old
			}
			s.restore(ctx, f.ID, prev)
			return err
		}
		w.log.Info("churn", "address", f.Address, "paths", f.Paths, "outcome", outcome.String())
		return nil
	}
	return fmt.Errorf("churn finding %s: too many concurrent updates", r.Finding.ID)
}
