package planner_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// TestPlannerHealthLab: a workspace whose state store refuses the
// credentials, and a data dir below the free-space threshold, are reported
// as cluster.health events of the planner for that workspace, never as
// drift.
func TestPlannerHealthLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t, lab.WithoutControllerManager())
	w := prepare(t, l, marketplaceSrc, lab.Tofu, "health/state.tfstate", map[string]string{"namespace": `"health"`})
	health := func(ws, cond string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			h, ok := r.Data.(*events.ClusterHealth)
			return ok && h.Component == events.ComponentPlanner && h.WS == ws && h.Condition == cond && h.Status == "True"
		}
	}
	noDrift := func(t *testing.T, s *eventstest.Recorder) {
		for _, r := range s.All() {
			switch r.Data.(type) {
			case *events.DriftDetected, *events.DriftResolved:
				t.Fatalf("a failure reported as drift: %s", r.Data.Summary())
			}
		}
	}

	t.Run("CredentialsRejected", func(t *testing.T) {
		cfg := workspaceConfig(l, "badcreds", w.Dir, lab.Tofu, "health")
		cfg.Workspaces[0].Env = map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
		env := eventstest.Start(t)
		s := env.Record(t)
		failures := &failureLog{Handler: quietLog().Handler(), seen: make(chan struct{}, 16)}
		startPlanner(t, env, cfg, "planner-1", t.TempDir(), slog.New(failures), planner.WithEnviron(toolEnv(l)))
		r := s.WaitFor(t, 0, 2*time.Minute, "cluster.health CredentialsRejected", health("badcreds", "CredentialsRejected"))
		h := r.Data.(*events.ClusterHealth)
		if h.Severity != events.SeverityCritical || h.Cluster != "lab" || h.Message == "" {
			t.Fatalf("health event %+v", h)
		}
		t.Logf("%s", h.Summary())
		if containsAny(string(r.Raw), "not-the-secret", l.S3.SecretKey) {
			t.Fatal("the health event carries a credential")
		}
		// The planner retries: still one event, no drift. It reports each
		// failed attempt before it decides whether to publish; once it has
		// reported the third, the second has been handled in full, so a
		// second event would be in the stream already.
		for n := 1; n <= 3; n++ {
			select {
			case <-failures.seen:
			case <-time.After(2 * time.Minute):
				t.Fatalf("the planner reported %d failed attempts within 2 minutes, want 3", n-1)
			}
		}
		s.WaitCaughtUp(t, 30*time.Second)
		if n := s.Count(0, health("badcreds", "CredentialsRejected")); n != 1 {
			t.Fatalf("%d health events for one lasting condition, want 1", n)
		}
		noDrift(t, s)
	})

	t.Run("DiskGuard", func(t *testing.T) {
		cfg := workspaceConfig(l, "nodisk", w.Dir, lab.Tofu, "health")
		cfg.Planner.MinFreeBytes = 1 << 60
		env := eventstest.Start(t)
		s := env.Record(t)
		startPlanner(t, env, cfg, "planner-1", t.TempDir(), nil, planner.WithEnviron(toolEnv(l)))
		r := s.WaitFor(t, 0, time.Minute, "cluster.health DiskLow", health("nodisk", "DiskLow"))
		if h := r.Data.(*events.ClusterHealth); h.Severity != events.SeverityCritical {
			t.Fatalf("health event %+v", h)
		}
		noDrift(t, s)
	})
}

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if x != "" && len(s) >= len(x) && strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// failureLog passes records on to its handler and signals seen for each
// "workspace cannot be planned": the planner logs one for every failed
// attempt, before it decides whether the failure is news.
type failureLog struct {
	slog.Handler
	seen chan struct{}
}

func (f *failureLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "workspace cannot be planned" {
		select {
		case f.seen <- struct{}{}:
		default:
		}
	}
	if !f.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return f.Handler.Handle(ctx, r)
}

func (f *failureLog) Enabled(context.Context, slog.Level) bool { return true }

func (f *failureLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &failureLog{Handler: f.Handler.WithAttrs(as), seen: f.seen}
}

func (f *failureLog) WithGroup(name string) slog.Handler {
	return &failureLog{Handler: f.Handler.WithGroup(name), seen: f.seen}
}
