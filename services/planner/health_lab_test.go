package planner_test

import (
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
	health := func(ws, cond string) func(events.Data) bool {
		return func(d events.Data) bool {
			h, ok := d.(*events.ClusterHealth)
			return ok && h.Component == events.ComponentPlanner && h.WS == ws && h.Condition == cond && h.Status == "True"
		}
	}
	noDrift := func(t *testing.T, s *stream) {
		for _, r := range s.since(0) {
			switch r.data.(type) {
			case *events.DriftDetected, *events.DriftResolved:
				t.Fatalf("a failure reported as drift: %s", r.data.Summary())
			}
		}
	}

	t.Run("CredentialsRejected", func(t *testing.T) {
		cfg := workspaceConfig(l, "badcreds", w.Dir, lab.Tofu, "health")
		cfg.Workspaces[0].Env = map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
		env := eventstest.Start(t)
		s := collect(t, env)
		startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)))
		r := s.wait(0, 2*time.Minute, "cluster.health CredentialsRejected", health("badcreds", "CredentialsRejected"))
		h := r.data.(*events.ClusterHealth)
		if h.Severity != events.SeverityCritical || h.Cluster != "lab" || h.Message == "" {
			t.Fatalf("health event %+v", h)
		}
		t.Logf("%s", h.Summary())
		if containsAny(string(r.raw), "not-the-secret", l.S3.SecretKey) {
			t.Fatal("the health event carries a credential")
		}
		time.Sleep(3 * time.Second) // a retry happens meanwhile: still one event, no drift
		n := 0
		for _, rec := range s.since(0) {
			if health("badcreds", "CredentialsRejected")(rec.data) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d health events for one lasting condition, want 1", n)
		}
		noDrift(t, s)
	})

	t.Run("DiskGuard", func(t *testing.T) {
		cfg := workspaceConfig(l, "nodisk", w.Dir, lab.Tofu, "health")
		cfg.Planner.MinFreeBytes = 1 << 60
		env := eventstest.Start(t)
		s := collect(t, env)
		startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)))
		r := s.wait(0, time.Minute, "cluster.health DiskLow", health("nodisk", "DiskLow"))
		if h := r.data.(*events.ClusterHealth); h.Severity != events.SeverityCritical {
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
