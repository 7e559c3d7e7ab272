package planner

import (
	"context"
	"errors"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tofu"
)

// reportFailure publishes a cluster.health event when a workspace enters a
// failure condition (lock, init, provider, credentials, config, disk ...).
// A failure is never drift: no finding changes because of it.
func (s *Service) reportFailure(ctx context.Context, w *workspace, err error) {
	kind := tofu.KindTool
	summary := err.Error()
	var pe *tofu.Error
	if errors.As(err, &pe) {
		kind, summary = pe.Kind, pe.Summary
	}
	if kind == tofu.KindCanceled {
		return
	}
	cond := kind.Condition()
	w.log.Warn("workspace cannot be planned", "condition", cond, "err", err)
	if _, open := w.conditions[cond]; open {
		return
	}
	now := time.Now().UTC()
	w.conditions[cond] = now
	sev := events.SeverityWarning
	if kind == tofu.KindDiskLow || kind == tofu.KindCredentials {
		sev = events.SeverityCritical
	}
	s.publishHealth(ctx, w, &events.ClusterHealth{
		Condition: cond, Status: "True", Severity: sev, Reason: string(kind), Message: summary, Since: now, ObservedAt: now,
	})
}

// reportRecovered clears the workspace's open failure conditions.
func (s *Service) reportRecovered(ctx context.Context, w *workspace) {
	now := time.Now().UTC()
	for cond, since := range w.conditions {
		s.publishHealth(ctx, w, &events.ClusterHealth{
			Condition: cond, Status: "False", Severity: events.SeverityInfo, Reason: "Recovered",
			Message: "the workspace plans again", Since: since, Duration: now.Sub(since).Round(time.Second).String(), ObservedAt: now,
		})
		delete(w.conditions, cond)
	}
}

func (s *Service) publishHealth(ctx context.Context, w *workspace, h *events.ClusterHealth) {
	h.Cluster, h.Component, h.WS = w.cluster, events.ComponentPlanner, w.name
	if h.Cluster == "" {
		h.Cluster = "default"
	}
	if _, err := s.pub.Publish(ctx, h); err != nil {
		w.log.Warn("publish cluster.health", "err", err)
	}
}
