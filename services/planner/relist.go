package planner

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// A watcher that starts watching a cluster (at start, as a new leader, after
// an API server outage) lists it and reports what differs from its
// inventory, then Synced=True. A change made and undone while no watcher
// watched is not reported: the object is back to what the inventory
// records. But a plan may have seen it in between (a plan retried as the API
// server came back) and opened a finding, which nothing would resolve until
// the next full plan. So after a relist the replica holding each workspace
// of that cluster plans the objects of its open findings again: under the
// workspace's lease, so after any plan in flight, and as changes, so their
// plan reads the objects after the relist.

// handleHealth records a watcher's relist (Synced=True) for every workspace
// of its cluster, in the state bucket (planner.relisted.<workspace>), so
// whichever replica holds the workspace acts on it.
func (s *Service) handleHealth(ctx context.Context, h *events.ClusterHealth) events.Result {
	if h.Component != events.ComponentWatcher || h.Condition != events.ConditionSynced || h.Status != "True" {
		return events.Ack()
	}
	at := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	for _, w := range s.workspaces {
		if w.cluster != "" && w.cluster != h.Cluster {
			continue
		}
		if _, err := s.d.Buckets.State.Put(ctx, relistedKey(w.name), at); err != nil {
			return events.Nak(time.Second, "record the relist: "+err.Error())
		}
	}
	return events.Ack()
}

// afterRelist runs under the workspace's lease: the objects of the open
// findings become pending (recheckOpenFindings), then the relist's record
// goes, unless a newer relist replaced it.
func (s *Service) afterRelist(ctx context.Context, w *workspace) error {
	s.mu.Lock()
	rev := w.relisted
	s.mu.Unlock()
	if rev == 0 {
		return nil
	}
	if err := s.recheckOpenFindings(ctx, w, "watcher relisted the cluster"); err != nil {
		return err
	}
	err := s.d.Buckets.State.Delete(ctx, relistedKey(w.name), jetstream.LastRevision(rev))
	if err != nil && !conflict(err) {
		return err
	}
	s.mu.Lock()
	if w.relisted == rev {
		w.relisted = 0 // the watch will say so too; do not act twice meanwhile
	}
	s.mu.Unlock()
	return nil
}
