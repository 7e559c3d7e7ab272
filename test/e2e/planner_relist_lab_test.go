package e2e_test

import (
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// TestRelistResolvesWhatAPlanSawLab: a change made and undone while no
// watcher watches, seen in between by a plan, is resolved once a watcher
// lists the cluster again, not at the next full-plan interval. The watcher's
// relist cannot report it (the object is back to what its inventory
// records); when the watcher reports Synced, the planner plans the objects of
// the open findings again.
// The fault suite found it: a scale made while the API server came back, seen
// by a plan, scaled back before the new watcher leader's relist, stayed open.
func TestRelistResolvesWhatAPlanSawLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	ns := "relist"
	w := prepare(t, l, marketplaceSrc, lab.Tofu, "relist/marketplace.tfstate", map[string]string{"namespace": `"` + ns + `"`})
	apply(t, w)
	cfg := workspaceConfig(l, "marketplace", w.Dir, lab.Tofu, ns)
	// No interval's full plan within the test: only the relist can resolve.
	cfg.Workspaces[0].FullPlanInterval.Duration = 24 * time.Hour

	env := eventstest.Start(t)
	s := collect(t, env)
	stop := startWatcher(t, env, cfg, "watcher-1")
	s.wait(0, 2*time.Minute, "the watcher's first Synced", watcherSynced)
	stop()

	// While no watcher runs: a scale, seen by the planner's startup plan.
	patch(t, l, "kubectl-scale", "deployments", ns, "marketplace", `{"spec":{"replicas":4}}`)
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)))
	r := s.wait(0, 3*time.Minute, "drift.detected of the scale from the startup plan",
		detected("kubernetes_deployment.marketplace", events.ClassChanged))
	id := r.Data.(*events.DriftDetected).Finding.ID
	s.wait(0, time.Minute, "the startup plan.completed", planCompleted("marketplace", planner.TriggerStartup))

	// Scaled back, still with no watcher: to what the inventory records.
	patch(t, l, "kubectl-scale", "deployments", ns, "marketplace", `{"spec":{"replicas":2}}`)
	m := s.mark()
	startWatcher(t, env, cfg, "watcher-2")
	s.wait(m, 2*time.Minute, "the new watcher's Synced", watcherSynced)
	s.wait(m, 3*time.Minute, "drift.resolved of the scale", resolved(id))
	for _, rec := range s.since(m) {
		if oc, ok := rec.Data.(*events.ObjectChanged); ok && oc.Object.Kind == "Deployment" && oc.Object.Name == "marketplace" {
			t.Fatalf("the relist reported the deployment (%s): this test no longer covers a change the watcher cannot see:\n%s",
				oc.Summary(), s.describe(m))
		}
	}
}

func watcherSynced(d events.Data) bool {
	h, ok := d.(*events.ClusterHealth)
	return ok && h.Component == events.ComponentWatcher && h.Condition == events.ConditionSynced && h.Status == "True"
}
