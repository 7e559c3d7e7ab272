package execute_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/services/importer/internal/live"
	"github.com/driftgate/driftgate/services/importer/internal/statefile"
	"github.com/driftgate/driftgate/test/lab"
)

// fixture is the importer's test workspace: testdata/shop.
var fixture, _ = filepath.Abs("../../testdata/shop")

// shop is one copy of the fixture on the lab: its objects were created by
// an apply into a "seed" state, and the importer works on an empty state of
// its own, as on a CI runner whose state was lost.
type shop struct {
	l       *lab.Lab
	bin     lab.Binary
	ns      string
	key     string // the importer's state key
	src     string // the importer's configuration (backend pointed at key)
	ws      *execute.Workspace
	environ []string
}

func newShop(t testing.TB, l *lab.Lab, bin lab.Binary, ns string) *shop {
	t.Helper()
	ctx := context.Background()
	tfvars := fmt.Sprintf("namespace = %q\n", ns)
	seed := l.NewWorkspace(t, fixture, bin, "seed/"+ns+".tfstate")
	if err := os.WriteFile(filepath.Join(seed.Dir, "lab.auto.tfvars"), []byte(tfvars), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := seed.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := seed.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	s := &shop{l: l, bin: bin, ns: ns, key: "importer/" + ns + ".tfstate", environ: append(os.Environ(), l.Env()...)}
	w, err := l.PrepareWorkspace(fixture, t.TempDir(), bin, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(tfvars), 0o644); err != nil {
		t.Fatal(err)
	}
	s.src = w.Dir
	s.ws = s.open(t, &execute.MemJournal{})
	return s
}

// open prepares an importer working copy of the shop.
func (s *shop) open(t testing.TB, j execute.Journal) *execute.Workspace {
	t.Helper()
	ctx := context.Background()
	tw, err := tofu.Open(ctx, s.src, tofu.Options{Name: s.ns, Dir: t.TempDir(), Binary: s.l.BinaryPath(s.bin), Environ: s.environ})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := live.NewReader(s.l.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &execute.Workspace{
		Name: s.ns, TF: tw, State: tofu.NewStore(s.l.S3.Client(), s.l.S3.Bucket, s.key),
		Lockfile: s.bin == lab.Tofu, Live: lr, Journal: j,
	}
}

// request asks to import address, the live object o of the shop.
func (s *shop) request(t testing.TB, address string, o events.ObjectRef, importID string) execute.Request {
	t.Helper()
	snap, err := s.ws.Live.Snapshot(context.Background(), o)
	if err != nil || !snap.Exists {
		t.Fatalf("live %s: exists=%v err=%v", o, snap.Exists, err)
	}
	o.UID = snap.UID
	cur, err := s.ws.State.Current(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return execute.Request{ID: "ir-" + s.ns + "-" + address, Workspace: s.ns, Address: address, ImportID: importID, Object: o,
		Risk: events.RiskLow, StateSerial: cur.Serial}
}

func (s *shop) deployment() events.ObjectRef {
	return events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: s.ns, Name: "web"}
}

func (s *shop) configMap() events.ObjectRef {
	return events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: s.ns, Name: "settings"}
}

func engine(t testing.TB) *execute.Engine {
	return &execute.Engine{Who: "driftgate-importer/test", LockWait: time.Minute}
}

// TestEngineOnLab runs the import transaction against the real lab, with
// OpenTofu and with Terraform.
func TestEngineOnLab(t *testing.T) {
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) {
			t.Run("clean import settles Terraform-only attributes", func(t *testing.T) { testClean(t, l, bin) })
			t.Run("config differs from live: rolled back", func(t *testing.T) { testRollback(t, l, bin) })
			t.Run("stale request: object recreated", func(t *testing.T) { testStale(t, l, bin) })
			t.Run("killed between import and verify: recovered", func(t *testing.T) { testCrash(t, l, bin) })
			if bin == lab.Tofu {
				t.Run("state lock held by another client: waits", func(t *testing.T) { testLockHeld(t, l, bin) })
			}
		})
	}
}

func testClean(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := context.Background()
	s := newShop(t, l, bin, "clean-"+string(bin))
	req := s.request(t, "kubernetes_deployment.web", s.deployment(), s.ns+"/web")
	before, _ := s.ws.Live.Snapshot(ctx, req.Object)
	out, err := engine(t).Execute(ctx, s.ws, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != execute.Succeeded {
		t.Fatalf("outcome %s at %s: %s %v", out.Status, out.Step, out.Reason, out.Diff)
	}
	t.Logf("imported in %s (%v); settled %v; state %s -> %s", out.Duration.Round(time.Millisecond), out.Timings, out.Settled, out.Before, out.After)
	if len(out.Settled) == 0 {
		t.Errorf("expected Terraform-only attributes to be settled (wait_for_rollout), got none")
	}
	// The next plan of the address is clean.
	p, err := s.ws.TF.PlanJSON(ctx, tofu.PlanOptions{Targets: []string{req.Address}})
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range p.ResourceChanges {
		if rc.Address == req.Address && !rc.Change.Actions.NoOp() {
			t.Errorf("%s plans %v after the import", rc.Address, rc.Change.Actions)
		}
	}
	// The live object is untouched, and the state holds the address.
	after, _ := s.ws.Live.Snapshot(ctx, req.Object)
	if ch := live.Changes(before, after); len(ch) > 0 {
		t.Errorf("live object changed: %v", ch)
	}
	cur, _ := s.ws.State.Current(ctx)
	if has, _ := statefile.Has(cur.Body, req.Address); !has {
		t.Errorf("state version %s does not hold %s", cur, req.Address)
	}
	if bin == lab.Tofu {
		if h, _ := s.ws.State.LockHolder(ctx); h.ID != "" {
			t.Errorf("lock left behind: %+v", h)
		}
	}
}

func testRollback(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := context.Background()
	s := newShop(t, l, bin, "differs-"+string(bin))
	// Someone scales the live Deployment: config says 2 replicas.
	d, err := l.Kube().AppsV1().Deployments(s.ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	d.Spec.Replicas = &three
	if _, err := l.Kube().AppsV1().Deployments(s.ns).Update(ctx, d, metav1.UpdateOptions{FieldManager: "kubectl-scale"}); err != nil {
		t.Fatal(err)
	}
	// On an empty state, the rollback makes the state absent again.
	first := s.request(t, "kubernetes_deployment.web", s.deployment(), s.ns+"/web")
	if out, err := engine(t).Execute(ctx, s.ws, first); err != nil || out.Status != execute.RolledBack {
		t.Fatalf("import into the empty state: %+v %v", out, err)
	}
	if cur, err := s.ws.State.Current(ctx); err != nil || cur.Exists {
		t.Fatalf("after rolling back the first import the state is %s (%v), want absent", cur, err)
	}
	// Then import the ConfigMap (clean), so the state is not empty.
	cm := s.request(t, "kubernetes_config_map.settings", s.configMap(), s.ns+"/settings")
	if out, err := engine(t).Execute(ctx, s.ws, cm); err != nil || out.Status != execute.Succeeded {
		t.Fatalf("config map import: %+v %v", out, err)
	}
	before, err := s.ws.State.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := s.request(t, "kubernetes_deployment.web", s.deployment(), s.ns+"/web")
	out, err := engine(t).Execute(ctx, s.ws, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != execute.RolledBack || out.Step != execute.StepVerify {
		t.Fatalf("outcome %s at %s: %s %v, want rolledback at verify", out.Status, out.Step, out.Reason, out.Diff)
	}
	t.Logf("rolled back: %s %v", out.Reason, out.Diff)
	if !strings.Contains(strings.Join(out.Diff, "\n"), "spec.replicas") {
		t.Errorf("diff %v does not name spec.replicas", out.Diff)
	}
	cur, err := s.ws.State.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The content from before, at a serial above the import's: a state's
	// serial never goes back.
	if !tofu.SameContent(cur.Body, before.Body) || cur.Serial <= before.Serial+1 || cur.Lineage != before.Lineage {
		t.Errorf("state after rollback (version %s, serial %d) is not the content of %s (serial %d) written forward", cur, cur.Serial, before, before.Serial)
	}
	if cur.ID == before.ID {
		t.Errorf("rollback did not write a new version")
	}
	if j, _ := s.ws.Journal.Load(ctx); j != nil {
		t.Errorf("journal left: %+v", j)
	}
	// Had the journal not been cleared after the rollback (NATS down then),
	// the next start finds the content from before, written forward: its
	// own rollback, not someone else's write.
	ids, err := s.ws.State.Versions(ctx)
	if err != nil || len(ids) < 3 || ids[0] != cur.ID {
		t.Fatalf("versions %v (%v), want the rollback's %s first", ids, err, cur.ID)
	}
	imported, err := s.ws.State.Get(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	imported.Body = nil
	before.Body = nil
	if err := s.ws.Journal.Save(ctx, &execute.Entry{Request: req, Step: execute.StepVerify, Before: before, After: imported, Holder: "driftgate-importer/gone", StartedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rec, err := engine(t).Recover(ctx, s.ws)
	if err != nil || rec == nil || rec.Status != execute.RolledBack || !strings.Contains(rec.Reason, "after its rollback") {
		t.Fatalf("recovery after an uncleared rollback: %+v %v, want rolledback after its rollback", rec, err)
	}
	if j, _ := s.ws.Journal.Load(ctx); j != nil {
		t.Errorf("journal left after recovery: %+v", j)
	}
}

func testStale(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := context.Background()
	s := newShop(t, l, bin, "stale-"+string(bin))
	req := s.request(t, "kubernetes_config_map.settings", s.configMap(), s.ns+"/settings")
	// The object is deleted and created again: a new uid.
	cms := l.Kube().CoreV1().ConfigMaps(s.ns)
	old, err := cms.Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: s.ns}, Data: old.Data}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.ws.State.Current(ctx)
	out, err := engine(t).Execute(ctx, s.ws, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != execute.Failed || out.Step != execute.StepPreflight || !strings.Contains(out.Reason, "deleted and recreated") {
		t.Fatalf("outcome %s at %s: %s, want failed at preflight: deleted and recreated", out.Status, out.Step, out.Reason)
	}
	t.Logf("refused: %s", out.Reason)
	cur, _ := s.ws.State.Current(ctx)
	if cur.ID != before.ID || cur.Exists != before.Exists {
		t.Errorf("state changed on a refused request: %s -> %s", before, cur)
	}
}

func testLockHeld(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := context.Background()
	s := newShop(t, l, bin, "locked-"+string(bin))
	req := s.request(t, "kubernetes_config_map.settings", s.configMap(), s.ns+"/settings")
	// A real OpenTofu run (CI) on the same state while the importer holds
	// the lock is refused, naming the importer.
	ci, err := l.PrepareWorkspace(fixture, t.TempDir(), bin, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ci.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("namespace = %q\n", s.ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ci.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// Another client (CI) holds the state lock; it lets go 2s after the
	// importer found it held.
	other, err := s.ws.State.Lock(ctx, "OperationTypeApply", "ci@runner", "")
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	var ciErr error
	var mu sync.Mutex
	var reports []string
	e := engine(t)
	e.AfterStep = func(step string) {
		if step == "remembered" {
			_, ciErr = ci.TF.Plan(ctx, tfexec.Lock(true), tfexec.LockTimeout("0s"))
		}
	}
	e.OnLockWait = func(ws string, held bool, info string) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprintf("held=%v %s", held, info))
		if held {
			go func() {
				time.Sleep(2 * time.Second)
				_ = other.Unlock(context.Background())
				released <- time.Now()
			}()
		}
	}
	out, err := e.Execute(ctx, s.ws, req)
	if err != nil {
		t.Fatal(err)
	}
	var rel time.Time
	select {
	case rel = <-released:
	default:
		t.Fatal("the importer never waited for the other client's lock")
	}
	if out.Status != execute.Succeeded {
		t.Fatalf("outcome %s at %s: %s", out.Status, out.Step, out.Reason)
	}
	if out.Timings[execute.StepLock] <= 0 {
		t.Errorf("no time spent waiting for the lock")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 2 || !strings.HasPrefix(reports[0], "held=true") || !strings.Contains(reports[0], "ci@runner") || reports[1] != "held=false " {
		t.Errorf("lock reports %q, want held by ci@runner, then acquired", reports)
	}
	t.Logf("waited %s for the lock (released at %s); reports %q", out.Timings[execute.StepLock].Round(time.Millisecond), rel.Format(time.TimeOnly), reports)
	if ciErr == nil || !strings.Contains(ciErr.Error(), "driftgate-import") {
		t.Errorf("tofu plan -lock=true during the import: %v, want the state lock held by driftgate-import", ciErr)
	}
}

// crashEnv names the JSON file with which the test binary, run again as a
// child, plays an importer that is killed right after the import wrote the
// state.
const crashEnv = "DRIFTGATE_IMPORTER_CRASH_HELPER"

type crashConfig struct {
	Source, Binary, Kubeconfig, Bucket, Key string
	S3                                      lab.S3
	Lockfile                                bool
	Environ                                 []string
	Request                                 execute.Request
}

// TestCrashHelper is not a test: it is the child process of testCrash.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as testCrash's child process")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c crashConfig
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tw, err := tofu.Open(ctx, c.Source, tofu.Options{Dir: t.TempDir(), Binary: c.Binary, Environ: c.Environ})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	lr, err := live.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	store := tofu.NewStore(c.S3.Client(), c.Bucket, c.Key)
	ws := &execute.Workspace{Name: "crash", TF: tw, State: store, Lockfile: c.Lockfile, Live: lr, Journal: execute.S3Journal{Store: store}}
	e := &execute.Engine{Who: "driftgate-importer/crashing", AfterStep: func(step string) {
		if step == "imported" {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}}
	_, err = e.Execute(ctx, ws, c.Request)
	t.Fatalf("the helper was not killed after the import: %v", err)
}

func testCrash(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := context.Background()
	s := newShop(t, l, bin, "crash-"+string(bin))
	req := s.request(t, "kubernetes_deployment.web", s.deployment(), s.ns+"/web")
	liveBefore, _ := s.ws.Live.Snapshot(ctx, req.Object)
	stateBefore, _ := s.ws.State.Current(ctx)
	cfg := crashConfig{Source: s.src, Binary: l.BinaryPath(bin), Kubeconfig: l.Kubeconfig, Bucket: l.S3.Bucket, Key: s.key,
		S3: l.S3, Lockfile: bin == lab.Tofu, Environ: s.environ, Request: req}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "crash.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed: %v\n%s", err, outb.String())
	}
	// The crash left an import in the state, unverified, and its journal.
	store := tofu.NewStore(l.S3.Client(), l.S3.Bucket, s.key)
	j := execute.S3Journal{Store: store}
	ent, err := j.Load(ctx)
	if err != nil || ent == nil {
		t.Fatalf("no journal after the crash: %v", err)
	}
	mid, _ := store.Current(ctx)
	if has, _ := statefile.Has(mid.Body, req.Address); !has || mid.ID == stateBefore.ID {
		t.Fatalf("the crashed import did not write the state (journal step %s)", ent.Step)
	}
	if bin == lab.Tofu {
		if h, _ := store.LockHolder(ctx); h.ID == "" || h.ID != ent.LockID {
			t.Fatalf("the crashed importer's lock is not held: %+v", h)
		}
	}
	t.Logf("killed at step %s; state version %s holds the unverified import", ent.Step, mid)

	// The next start recovers: verifies and keeps it.
	ws := s.open(t, j)
	out, err := engine(t).Recover(ctx, ws)
	if err != nil || out == nil {
		t.Fatalf("recover: %v %v", out, err)
	}
	if out.Status != execute.Succeeded {
		t.Fatalf("recovered as %s at %s: %s %v", out.Status, out.Step, out.Reason, out.Diff)
	}
	t.Logf("recovered: %s, settled %v", out.Status, out.Settled)
	if e, _ := j.Load(ctx); e != nil {
		t.Errorf("journal left after recovery: %+v", e)
	}
	if bin == lab.Tofu {
		if h, _ := store.LockHolder(ctx); h.ID != "" {
			t.Errorf("lock left after recovery: %+v", h)
		}
	}
	liveAfter, _ := ws.Live.Snapshot(ctx, req.Object)
	if ch := live.Changes(liveBefore, liveAfter); len(ch) > 0 {
		t.Errorf("live object changed: %v", ch)
	}
	// A recovery with nothing in flight does nothing.
	if out, err := engine(t).Recover(ctx, ws); err != nil || out != nil {
		t.Errorf("second recover: %v %v", out, err)
	}
}
