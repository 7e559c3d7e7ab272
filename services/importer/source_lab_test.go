package importer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/pkg/source/gittest"
	"github.com/driftgate/driftgate/test/lab"
)

// TestGitSourceImportLab: the importer of a workspace whose configuration
// is in Git (a real git http-backend with a token) imports with the commit
// the revision record names, checked out into its own data dir by SHA. An
// approved import judged on a revision the workspace has moved past is
// refused as stale and never touches the state; judged again on the
// current revision, the import runs and is verified clean.
func TestGitSourceImportLab(t *testing.T) {
	l := lab.Start(t)
	ctx := context.Background()
	js := eventstest.Start(t)
	recorder := js.Record(t)
	const ns = "git-shop"
	const gitToken = "tok-CANARY-import-3c"
	cfg, env := labShop(t, l, lab.Tofu, ns, config.ApprovalManual)
	srv := gittest.New(t, gitToken)
	c1 := srv.Commit(t, "main", "shop", srv.CopyDir(t, cfg.Workspaces[0].Dir, "envs/shop"))
	g := &config.GitSource{URL: srv.URL, Ref: "main", Path: "envs/shop", Interval: config.Duration{Duration: time.Hour},
		Auth: config.GitAuth{TokenEnv: "TEST_GIT_TOKEN"}}
	cfg.Workspaces[0].Dir, cfg.Workspaces[0].Source = "", &config.Source{Git: g}
	getenv := env.Getenv
	env.Getenv = func(k string) string {
		if k == "TEST_GIT_TOKEN" {
			return gitToken
		}
		return getenv(k)
	}

	// The planner's part: follow the ref and record the revision.
	pf, err := source.NewFetcher(t.TempDir(), srv.URL, source.Auth{Username: "git", Password: gitToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tracker := source.NewTracker(ns, *g, pf, js.Buckets.State)
	if rev, _, err := tracker.Update(ctx); err != nil || rev.Commit != c1 {
		t.Fatalf("record %s: %+v %v", c1, rev, err)
	}

	dataDir := t.TempDir()
	p := startService(t, js, cfg, env, dataDir, hooks{})
	defer p.stop(t)
	deploy := events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: "web"}
	d, err := l.Kube().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deploy.UID = string(d.UID)
	publish := func(rev string) events.Finding {
		f := events.Finding{ID: events.FindingID(ns, "kubernetes_deployment.web", events.ClassUnimported), Workspace: ns,
			Address: "kubernetes_deployment.web", Object: deploy, Class: events.ClassUnimported, Risk: events.RiskLow,
			ImportID: ns + "/web", RecommendedAction: "import", State: events.StateOpen, FirstSeen: time.Now(), LastSeen: time.Now(), Revision: rev}
		if _, err := events.NewPublisher(js.JS, "test/planner").Publish(ctx,
			&events.DriftDetected{Finding: f, PlanID: fmt.Sprintf("p-%d", time.Now().UnixNano()), Revision: rev}); err != nil {
			t.Fatal(err)
		}
		return f
	}
	approve := func(id string) {
		t.Helper()
		r, err := Decide(ctx, js.Conn, sign(Decision{ID: id, Verb: VerbApprove, By: "alice", Reason: "reviewed"}, "approver-s3cret"))
		if err != nil || !r.OK {
			t.Fatalf("approve %s: %+v %v", id, r, err)
		}
	}

	f := publish(c1)
	old := waitRequest(t, p, ns, f.ID, time.Minute, StatusPending)
	if old.Revision != c1 {
		t.Fatalf("request at %q, want %s", old.Revision, c1)
	}
	// A commit lands and the planner records it before the approval.
	c2 := srv.Commit(t, "main", "a comment", map[string]*string{"envs/shop/NOTES.md": gittest.Text("reviewed\n")})
	if rev, changed, err := tracker.Update(ctx); err != nil || !changed || rev.Commit != c2 {
		t.Fatalf("record %s: %+v %v", c2, rev, err)
	}
	approve(old.ID)
	rec := waitRequest(t, p, ns, f.ID, 3*time.Minute, StatusFailed, StatusSucceeded, StatusRolledBack)
	if rec.ID != old.ID || rec.Status != StatusFailed || rec.Step != StepStale || !strings.Contains(rec.Reason, "stale: re-plan first") {
		t.Fatalf("stale request: %+v", rec)
	}
	if es := importEvents(t, js, old.ID); verbs(es) != "requested,approved,failed" {
		t.Fatalf("stale request events %s, want requested,approved,failed (never started)", verbs(es))
	}

	// Judged again on c2: a new request, imported with c2's checkout.
	publish(c2)
	var cur *RequestRecord
	deadline := time.Now().Add(time.Minute)
	for cur == nil || cur.ID == old.ID {
		if time.Now().After(deadline) {
			t.Fatal("no request for the finding at " + c2)
		}
		cur, _ = p.svc.reqs.forFinding(ctx, ns, f.ID)
		time.Sleep(100 * time.Millisecond)
	}
	approve(cur.ID)
	done := waitRequest(t, p, ns, f.ID, 5*time.Minute, StatusSucceeded, StatusRolledBack, StatusFailed)
	if done.ID != cur.ID || done.Status != StatusSucceeded || done.Revision != c2 {
		t.Fatalf("import at %s: %+v", c2, done)
	}
	p.svc.mu.Lock()
	opened := p.svc.openedRev[ns]
	p.svc.mu.Unlock()
	if opened != c2 {
		t.Fatalf("the importer opened revision %q, want %s", opened, c2)
	}
	var checkout string
	_ = filepath.WalkDir(filepath.Join(dataDir, "importer", "sources"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == c2 && filepath.Base(filepath.Dir(p)) == "checkouts" {
			checkout = p
		}
		return nil
	})
	if checkout == "" {
		t.Fatalf("no checkout of %s in the importer's data dir", c2)
	}
	if _, err := os.Stat(filepath.Join(checkout, "envs", "shop", "NOTES.md")); err != nil {
		t.Fatalf("the importer's checkout is not %s: %v", c2, err)
	}
	recorder.WaitCaughtUp(t, 30*time.Second)
	for _, r := range recorder.All() {
		if strings.Contains(string(r.Raw), gitToken) {
			t.Fatalf("the token is in an event: %s", r.Raw)
		}
	}
}
