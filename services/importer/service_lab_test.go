package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/test/lab"
)

var shopFixture, _ = filepath.Abs("testdata/shop")

// labShop applies testdata/shop into a seed state on the lab, so its
// objects exist live, and returns a config whose workspace (named after ns)
// manages them from an empty state of its own.
func labShop(t *testing.T, l *lab.Lab, bin lab.Binary, ns, approval string) (*config.File, Env) {
	t.Helper()
	ctx := context.Background()
	tfvars := []byte(fmt.Sprintf("namespace = %q\n", ns))
	seed := l.NewWorkspace(t, shopFixture, bin, "seed/"+ns+".tfstate")
	if err := os.WriteFile(filepath.Join(seed.Dir, "lab.auto.tfvars"), tfvars, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := seed.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	key := "importer/" + ns + ".tfstate"
	src := filepath.Join(t.TempDir(), "shop")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"main.tf"} {
		b, err := os.ReadFile(filepath.Join(shopFixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "lab.auto.tfvars"), tfvars, 0o644); err != nil {
		t.Fatal(err)
	}
	var bc strings.Builder
	for k, v := range l.BackendConfig(bin, key) {
		fmt.Fprintf(&bc, "      %s: %q\n", k, v)
	}
	yml := fmt.Sprintf(`clusters:
  - name: lab
    kubeconfig: %q
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    high_risk_kinds: [statefulsets.apps]
    import: {approval: %s}
importer:
  lock_wait: 1m
  approver_token_env: TEST_APPROVER_TOKEN
`, l.Kubeconfig, ns, src, l.BinaryPath(bin), bc.String(), approval)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "driftgate.yaml"), []byte(yml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	// The S3 client reads its credentials the standard way.
	for _, kv := range l.Env() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
	env := Env{Environ: append(os.Environ(), l.Env()...), Getenv: func(k string) string {
		if k == "TEST_APPROVER_TOKEN" {
			return "approver-s3cret"
		}
		return ""
	}}
	return cfg, env
}

// pipeline runs the importer service on an in-process JetStream.
type pipeline struct {
	env    *eventstest.Env
	svc    *Service
	cancel context.CancelFunc
	done   chan error
}

func startService(t *testing.T, js *eventstest.Env, cfg *config.File, env Env, dataDir string, h hooks) *pipeline {
	t.Helper()
	d := service.Deps{Conn: js.Conn, JS: js.JS, Buckets: js.Buckets, Instance: fmt.Sprintf("test-%d", time.Now().UnixNano()),
		DataDir: dataDir, Getenv: env.Getenv, Environ: env.Environ}
	svc, err := New(cfg, d, withHooks(h))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeline{env: js, svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- svc.Run(ctx) }()
	return p
}

func (p *pipeline) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("service: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("service did not stop")
	}
}

// unimported publishes the planner's finding for an object of the shop.
func unimported(t *testing.T, js *eventstest.Env, ws, address, importID string, o events.ObjectRef, risk string, serial int64) events.Finding {
	t.Helper()
	f := events.Finding{ID: events.FindingID(ws, address, events.ClassUnimported), Workspace: ws, Address: address, Object: o,
		Class: events.ClassUnimported, Risk: risk, ImportID: importID, RecommendedAction: "import", State: events.StateOpen,
		FirstSeen: time.Now(), LastSeen: time.Now()}
	if _, err := events.NewPublisher(js.JS, "test/planner").Publish(context.Background(),
		&events.DriftDetected{Finding: f, PlanID: fmt.Sprintf("p-%d", time.Now().UnixNano()), StateSerial: serial}); err != nil {
		t.Fatal(err)
	}
	return f
}

// waitRequest waits until the finding's request has one of the statuses.
func waitRequest(t *testing.T, p *pipeline, ws, fid string, timeout time.Duration, statuses ...string) *RequestRecord {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, err := p.svc.reqs.forFinding(context.Background(), ws, fid)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			for _, s := range statuses {
				if r.Status == s {
					return r
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	r, _ := p.svc.reqs.forFinding(context.Background(), ws, fid)
	t.Fatalf("request of %s not %v after %s: %+v", fid, statuses, timeout, r)
	return nil
}

// importEvents returns the import.* events of a request, in stream order.
func importEvents(t *testing.T, js *eventstest.Env, requestID string) []*events.Import {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectRoot + ".import.>"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*events.Import
	for {
		m, err := c.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return out
		}
		_, d, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if im := d.(*events.Import); im.RequestID == requestID {
			out = append(out, im)
		}
	}
}

func verbs(es []*events.Import) string {
	var v []string
	for _, e := range es {
		v = append(v, e.Verb())
	}
	return strings.Join(v, ",")
}

func sign(d Decision, token string) Decision {
	d.Sign(token, time.Now())
	return d
}

// TestServiceOnLab: a finding becomes a request, an unsigned approval is
// refused, a signed one imports, verifies and keeps the import; a service
// stopped between import and verify is finished by the next start.
func TestServiceOnLab(t *testing.T) {
	l := lab.Start(t)
	ctx := context.Background()
	js := eventstest.Start(t)
	const ns = "svc-shop"
	cfg, env := labShop(t, l, lab.Tofu, ns, config.ApprovalManual)
	dataDir := t.TempDir()
	var mu sync.Mutex
	stopAt := ""
	var p *pipeline
	h := hooks{afterStep: func(step string) {
		mu.Lock()
		defer mu.Unlock()
		if step == stopAt {
			stopAt = ""
			p.cancel() // the service is stopped right after the import wrote the state
		}
	}}
	p = startService(t, js, cfg, env, dataDir, h)
	deploy := events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: "web"}
	d, err := l.Kube().AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deploy.UID = string(d.UID)
	f := unimported(t, js, ns, "kubernetes_deployment.web", ns+"/web", deploy, events.RiskLow, 0)
	req := waitRequest(t, p, ns, f.ID, time.Minute, StatusPending)

	t.Run("an unauthenticated approve is refused", func(t *testing.T) {
		for name, dec := range map[string]Decision{
			"unsigned":    {ID: req.ID, Verb: VerbApprove, By: "mallory"},
			"wrong token": sign(Decision{ID: req.ID, Verb: VerbApprove, By: "mallory"}, "guess"),
		} {
			r, err := Decide(ctx, js.Conn, dec)
			if err != nil {
				t.Fatal(err)
			}
			if r.OK || !strings.Contains(r.Error, "refused") {
				t.Errorf("%s: reply %+v, want refused", name, r)
			}
		}
		if r, _, _ := p.svc.reqs.get(ctx, ns, req.ID); r.Status != StatusPending {
			t.Errorf("request is %s after refused approvals", r.Status)
		}
		if es := importEvents(t, js, req.ID); verbs(es) != "requested" {
			t.Errorf("events %s, want only requested", verbs(es))
		}
	})

	t.Run("approve imports, verifies and keeps it", func(t *testing.T) {
		mu.Lock()
		stopAt = "imported"
		mu.Unlock()
		r, err := Decide(ctx, js.Conn, sign(Decision{ID: f.ID, Verb: VerbApprove, By: "alice", Reason: "reviewed"}, "approver-s3cret"))
		if err != nil || !r.OK {
			t.Fatalf("approve: %+v %v", r, err)
		}
		// The service stops right after the import wrote the state.
		select {
		case <-p.done:
		case <-time.After(3 * time.Minute):
			t.Fatal("the service did not stop after the import")
		}
		waitRequest(t, p, ns, f.ID, time.Second, StatusRunning)
		ent, err := kvJournal{kv: js.Buckets.State, ws: ns, token: "approver-s3cret"}.Load(ctx)
		if err != nil || ent == nil {
			t.Fatalf("no journal after the stop: %v", err)
		}
		t.Logf("stopped at journal step %s with state version %s", ent.Step, ent.After)

		// A new start recovers it: verifies and keeps the import.
		p2 := startService(t, js, cfg, env, dataDir, hooks{})
		defer p2.stop(t)
		rec := waitRequest(t, p2, ns, f.ID, 3*time.Minute, StatusSucceeded, StatusRolledBack, StatusFailed)
		if rec.Status != StatusSucceeded {
			t.Fatalf("request %s: %s at %s: %s %v", rec.ID, rec.Status, rec.Step, rec.Reason, rec.Diff)
		}
		es := importEvents(t, js, req.ID)
		if got := verbs(es); got != "requested,approved,started,succeeded" {
			t.Errorf("events %s", got)
		}
		for _, e := range es {
			if e.Verb() == events.ImportApproved && (e.By != "alice" || e.Reason != "reviewed") {
				t.Errorf("approved event by %q reason %q", e.By, e.Reason)
			}
			if e.Verb() == events.ImportSucceeded {
				t.Logf("succeeded: state %s -> %s in %dms", e.StateVersionBefore, e.StateVersionAfter, e.DurationMS)
			}
		}
		if ent, _ := (kvJournal{kv: js.Buckets.State, ws: ns, token: "approver-s3cret"}).Load(ctx); ent != nil {
			t.Errorf("journal left: %+v", ent)
		}
		be, _ := tofu.ParseBackendConfig(cfg.Workspaces[0].BackendConfig)
		if h, _ := tofu.NewStore(l.S3.Client(), be.Bucket, be.Key).LockHolder(ctx); h.ID != "" {
			t.Errorf("state lock left: %+v", h)
		}
	})

	// What `nats kv put driftgate-state importer.journal.<ws>` could do
	// without the seal: a journal claiming an import of the service (not in
	// the state, so its verification fails) interrupted after the state was
	// written, with the empty state before it. Recovery on its word would
	// roll the workspace's state back to nothing. It is refused instead, and
	// the state keeps its version.
	t.Run("a forged journal rolls nothing back", func(t *testing.T) {
		be, _ := tofu.ParseBackendConfig(cfg.Workspaces[0].BackendConfig)
		store := tofu.NewStore(l.S3.Client(), be.Bucket, be.Key)
		before, err := store.Current(ctx)
		if err != nil || !before.Exists {
			t.Fatalf("state before the forgery: %+v %v", before, err)
		}
		forged, _ := json.Marshal(execute.Entry{
			Request: execute.Request{ID: "ir-forged", Workspace: ns, Address: "kubernetes_service.web", ImportID: ns + "/web",
				Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "Service", Namespace: ns, Name: "web"}, Risk: events.RiskLow},
			Step: execute.StepImport, Before: tofu.Version{}, Holder: "mallory", StartedAt: time.Now().UTC(),
		})
		seq := lastSeq(t, js)
		if _, err := js.Buckets.State.Put(ctx, journalKey(ns), forged); err != nil {
			t.Fatal(err)
		}
		p3 := startService(t, js, cfg, env, dataDir, hooks{})
		defer p3.stop(t)
		waitJournalRefused(t, js, seq, ns, "not a sealed record")
		after, err := store.Current(ctx)
		if err != nil || after.ID != before.ID || after.Serial != before.Serial {
			t.Errorf("the state moved after the forged journal: %s (serial %d) -> %s (serial %d) %v",
				before, before.Serial, after, after.Serial, err)
		}
		if es := importEvents(t, js, "ir-forged"); len(es) != 0 {
			t.Errorf("the forged journal was acted on: %s", verbs(es))
		}
	})
}
