package planner_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// TestUnimportedAnnouncedAgainAtANewSerialLab: the importer refuses a
// request made at an older state serial, so the first plan at a new serial
// announces an open unimported finding again, once, with that serial. That
// holds for a replica that never planned the workspace before (the other
// replica, or one restarted) and when the planner never saw the serials in
// between (an import and a `state rm` between two state polls): the finding
// records the serial it was announced at. The fault suite lost an adoption
// to the replica-local version of this.
func TestUnimportedAnnouncedAgainAtANewSerialLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t, lab.WithoutControllerManager())
	const ns, cm = "serials", "kubernetes_config_map.marketplace"
	w := prepare(t, l, marketplaceSrc, lab.Tofu, "serials/state.tfstate", map[string]string{"namespace": `"` + ns + `"`})
	apply(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.TF.StateRm(ctx, cm); err != nil {
		t.Fatal(err)
	}

	cfg := workspaceConfig(l, "serials", w.Dir, lab.Tofu, ns)
	cfg.Workspaces[0].FullPlanInterval.Duration = 3 * time.Second
	env := eventstest.Start(t)
	recordLive(t, l, env, events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "marketplace-config"})
	s := env.Record(t)
	unimported := func(r eventstest.Recorded) bool {
		d, ok := r.Data.(*events.DriftDetected)
		return ok && d.Finding.Address == cm && d.Finding.Class == events.ClassUnimported
	}
	fullPlanAt := func(serial int64) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			pc, ok := r.Data.(*events.PlanCompleted)
			return ok && pc.WS == "serials" && pc.Full && pc.Error == "" && pc.StateSerial == serial
		}
	}
	// A state poll far longer than the test: only plans read the state.
	opts := []planner.Option{planner.WithEnviron(toolEnv(l)), planner.WithStatePoll(time.Hour)}
	stop := startPlanner(t, env, cfg, "planner-1", t.TempDir(), nil, opts...)
	r := s.WaitFor(t, 0, 3*time.Minute, "unimported "+cm, unimported)
	first := r.Data.(*events.DriftDetected).StateSerial
	if got := r.Data.(*events.DriftDetected).Finding.AnnouncedSerial; got != first {
		t.Fatalf("announced at serial %d, the finding records %d", first, got)
	}
	// The plan that announced it has finished (stopping the replica
	// while it waits for the publish's ack takes the finding back).
	s.WaitFor(t, 0, time.Minute, fmt.Sprint("a full plan at serial ", first), fullPlanAt(first))
	stop()

	// The state moves on while no replica watches (content unchanged:
	// as after an import and a `state rm`), and a replica that has not
	// planned the workspace yet takes over.
	next, err := w.PushNextSerial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Mark()
	startPlanner(t, env, cfg, "planner-2", t.TempDir(), nil, opts...)
	r = s.WaitFor(t, m, 3*time.Minute, "unimported announced again", unimported)
	if d := r.Data.(*events.DriftDetected); d.StateSerial != next || d.Finding.AnnouncedSerial != next {
		t.Fatalf("announced again at serial %d (the finding records %d), want %d (first announced at %d)",
			d.StateSerial, d.Finding.AnnouncedSerial, next, first)
	}
	t.Logf("%s", r.Data.Summary())
	// Two more full plans at that serial: the announcement is not repeated.
	after := s.Mark()
	s.WaitFor(t, after, 2*time.Minute, fmt.Sprint("a full plan at serial ", next), fullPlanAt(next))
	s.WaitFor(t, s.Mark(), 2*time.Minute, fmt.Sprint("another full plan at serial ", next), fullPlanAt(next))
	if n := s.Count(m, unimported); n != 1 {
		t.Fatalf("announced %d times at serial %d, want once:\n%s", n, next, s.Describe(m))
	}
}
