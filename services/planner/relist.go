package planner

import (
	"context"
	"encoding/json"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// A watcher that starts watching a cluster (at start, as a new leader, after
// an API server outage) lists it and reports what differs from its
// inventory, then Synced=True. What changed while no watcher watched and
// was changed back to what the inventory records is not reported: nothing
// differs. But a plan may have seen the change in between (a plan retried
// when the API server came back, a full plan) and opened a finding that
// nothing would resolve until the next full-plan interval. So a relist asks
// the replica holding each workspace of that cluster for a full plan: it
// runs after any plan in flight (the workspace's lease) and reads the live
// objects after the relist, from when the watcher sees every change again.

// fullPlanRequest is a full plan asked for out of turn, kept in the state
// bucket (planner.fullplan.<workspace>) so whichever replica holds the
// workspace runs it.
type fullPlanRequest struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
}

// handleHealth asks for a full plan of the cluster's workspaces when a
// watcher reports it has listed the cluster (Synced=True).
func (s *Service) handleHealth(ctx context.Context, h *events.ClusterHealth) events.Result {
	if h.Component != events.ComponentWatcher || h.Condition != events.ConditionSynced || h.Status != "True" {
		return events.Ack()
	}
	req := fullPlanRequest{At: time.Now().UTC(), Reason: "the watcher relisted cluster " + h.Cluster}
	b, err := json.Marshal(req)
	if err != nil {
		return events.Ack()
	}
	for _, w := range s.workspaces {
		if w.cluster != "" && w.cluster != h.Cluster {
			continue
		}
		if _, err := s.d.Buckets.State.Put(ctx, fullPlanKey(w.name), b); err != nil {
			return events.Nak(time.Second, "ask for a full plan: "+err.Error())
		}
		w.log.Info("watcher relisted the cluster: full plan asked for", "cluster", h.Cluster)
	}
	return events.Ack()
}
