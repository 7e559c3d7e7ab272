package importer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/source"
)

// unimportedAt publishes the planner's finding judged on a configuration
// revision.
func unimportedAt(t *testing.T, js *eventstest.Env, ws, name, revision string, serial int64) events.Finding {
	t.Helper()
	o := events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: "u-" + name}
	addr := "kubernetes_config_map." + name
	f := events.Finding{ID: events.FindingID(ws, addr, events.ClassUnimported), Workspace: ws, Address: addr, Object: o,
		Class: events.ClassUnimported, Risk: events.RiskLow, ImportID: "shop/" + name, RecommendedAction: "import",
		State: events.StateOpen, FirstSeen: time.Now(), LastSeen: time.Now(), Revision: revision}
	if _, err := events.NewPublisher(js.JS, "test/planner").Publish(context.Background(),
		&events.DriftDetected{Finding: f, PlanID: fmt.Sprintf("p-%d", time.Now().UnixNano()), StateSerial: serial, Revision: revision}); err != nil {
		t.Fatal(err)
	}
	return f
}

func putRevision(t *testing.T, js *eventstest.Env, ws, commit string) {
	t.Helper()
	if err := source.PutRevision(context.Background(), js.Buckets.State, &source.Revision{Workspace: ws,
		URL: "http://127.0.0.1/infra.git", Ref: "main", Commit: commit, FetchedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestStaleRevisionIsRefused: an approved import whose finding was judged
// on an older configuration revision than the workspace's current one is
// refused ("stale: re-plan first") and never runs; the finding judged
// again on the new revision is a new request, which runs once approved. A
// request still pending when the finding is judged on a new revision is
// replaced the same way.
func TestStaleRevisionIsRefused(t *testing.T) {
	js := eventstest.Start(t)
	cfg := policyConfig(t)
	x := newRecorder()
	p := startService(t, js, cfg, tokenEnv(), t.TempDir(), x.hooks(t, js))
	defer p.stop(t)
	ctx := context.Background()
	const ws = "ws-manual"
	revA, revB := strings.Repeat("a", 40), strings.Repeat("b", 40)

	putRevision(t, js, ws, revA)
	f := unimportedAt(t, js, ws, "a", revA, 7)
	old := waitRequest(t, p, ws, f.ID, 30*time.Second, StatusPending)
	if old.Revision != revA {
		t.Fatalf("request revision %q, want %s", old.Revision, revA)
	}
	// A push moves the workspace to revB before anyone approves.
	putRevision(t, js, ws, revB)
	if _, err := p.svc.approve(ctx, ws, old.ID, p.svc.ownDecision(old.ID, VerbApprove, "alice", "looks right")); err != nil {
		t.Fatal(err)
	}
	ev := waitImportEvent(t, js, old.ID, 30*time.Second, events.ImportFailed, events.ImportSucceeded)
	if ev.Verb() != events.ImportFailed || ev.Step != StepStale || !strings.Contains(ev.Reason, "stale: re-plan first") ||
		!strings.Contains(ev.Reason, revA[:12]) || !strings.Contains(ev.Reason, revB[:12]) || ev.Revision != revA {
		t.Fatalf("import event %s step %q reason %q revision %q, want failed at stale naming both revisions", ev.Verb(), ev.Step, ev.Reason, ev.Revision)
	}
	if n := x.runs(old.ID); n != 0 {
		t.Fatalf("the stale import ran %d times", n)
	}
	rec, _, err := p.svc.reqs.get(ctx, ws, old.ID)
	if err != nil || rec.Status != StatusFailed || rec.Step != StepStale {
		t.Fatalf("record %+v %v", rec, err)
	}

	// Re-planned on revB: a new request, which runs once approved.
	unimportedAt(t, js, ws, "a", revB, 7)
	fresh := waitRequest(t, p, ws, f.ID, 30*time.Second, StatusPending)
	for fresh.ID == old.ID {
		fresh = waitRequest(t, p, ws, f.ID, 30*time.Second, StatusPending)
	}
	if fresh.Revision != revB {
		t.Fatalf("new request at %q, want %s", fresh.Revision, revB)
	}
	if _, err := p.svc.approve(ctx, ws, fresh.ID, p.svc.ownDecision(fresh.ID, VerbApprove, "alice", "looks right")); err != nil {
		t.Fatal(err)
	}
	if ev := waitImportEvent(t, js, fresh.ID, 30*time.Second, events.ImportFailed, events.ImportSucceeded); ev.Verb() != events.ImportSucceeded {
		t.Fatalf("current request: %s %s %s", ev.Verb(), ev.Step, ev.Reason)
	}

	// A pending request judged again on a newer revision is replaced.
	g := unimportedAt(t, js, ws, "b", revB, 7)
	pend := waitRequest(t, p, ws, g.ID, 30*time.Second, StatusPending)
	revC := strings.Repeat("c", 40)
	putRevision(t, js, ws, revC)
	unimportedAt(t, js, ws, "b", revC, 7)
	if ev := waitImportEvent(t, js, pend.ID, 30*time.Second, events.ImportRejected); !strings.Contains(ev.Reason, "stale: re-plan first") {
		t.Fatalf("superseded request: %s %q", ev.Verb(), ev.Reason)
	}
	repl := waitRequest(t, p, ws, g.ID, 30*time.Second, StatusPending)
	if repl.ID == pend.ID || repl.Revision != revC {
		t.Fatalf("replacement %+v", repl)
	}
}
