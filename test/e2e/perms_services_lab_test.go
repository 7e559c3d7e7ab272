package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

// TestServicesAsTheirUsersLab runs the real services — `driftgate watcher`,
// `planner`, `importer` and `notifier`, each its own process with its own
// NATS user of deploy/nats/accounts.conf on a real nats-server — against
// the lab, with the stream and buckets provisioned once by admin, and the
// CLI as approver and reader. Each does its job: the watcher publishes
// object.changed from the cluster (a ConfigMap made live); the planner consumes, plans and writes
// the finding of an object lost from the state; the importer makes the
// request and serves the decision RPC (`driftgate approve` as approver) and
// imports; the notifier consumes and delivers to a webhook; `driftgate
// audit` reads as reader. Neither the server nor any service logs a
// permissions violation.
func TestServicesAsTheirUsersLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	const (
		ws       = "marketplace"
		ns       = "shop-perms"
		lostAddr = "kubernetes_config_map.marketplace"
		approver = "approver-perms-9c2e"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "driftgate")
	built := make(chan error, 1)
	go func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/driftgate")
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %w\n%s", err, out)
		}
		built <- err
	}()
	url, pw, serverLog := permsServerLog(t)
	l := lab.Start(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	// admin provisions, once; no service may create or update a stream.
	admin := connectAs(t, url, "admin", pw["admin"])
	if _, err := events.EnsureStream(ctx, admin.js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := events.EnsureBuckets(ctx, admin.js, 1); err != nil {
		t.Fatal(err)
	}

	w := l.NewWorkspace(t, filepath.Join("..", "..", "examples", "marketplace"), lab.Tofu, "perms/marketplace.tfstate")
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("namespace = %q\n", ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.TF.StateRm(ctx, lostAddr); err != nil {
		t.Fatal(err)
	}

	// The notifier's webhook receiver.
	var hookMu sync.Mutex
	var hookBodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hookMu.Lock()
		hookBodies = append(hookBodies, string(b))
		hookMu.Unlock()
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()

	var bc strings.Builder
	for k, v := range l.BackendConfig(lab.Tofu, w.Key) {
		if strings.HasPrefix(v, "{") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fmt.Fprintf(&bc, "      %s: %q\n", k, v)
	}
	dir := t.TempDir()
	config := func(user string) string {
		yml := fmt.Sprintf(`nats:
  url: %q
  user: %s
  password_env: DRIFTGATE_NATS_PASSWORD
clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [deployments.apps, services, configmaps, secrets, namespaces]
  namespaces: [%s]
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    namespaces: [%s]
    import: {approval: manual}
notify:
  sinks:
    - {name: hook, webhook: {url: %q, secret_env: DRIFTGATE_WEBHOOK_SECRET}}
  routes:
    - {match: {types: [drift.detected, import.*]}, sinks: [hook]}
`, url, user, l.Kubeconfig, ns, ws, w.Dir, l.BinaryPath(lab.Tofu), bc.String(), ns, hook.URL+"/hook")
		p := filepath.Join(dir, user+".yaml")
		if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := append(os.Environ(), l.Env()...)
	base = append(base, "DRIFTGATE_APPROVER_TOKEN="+approver, "DRIFTGATE_WEBHOOK_SECRET=whsec-perms-1")
	logs := map[string]*syncBuffer{}
	for _, svc := range []string{"watcher", "planner", "importer", "notifier"} {
		cmd := exec.Command(bin, svc, "--config", config(svc), "--data-dir", filepath.Join(dir, svc), "--http", "127.0.0.1:0")
		out := &syncBuffer{}
		logs[svc] = out
		cmd.Env = append(base, "DRIFTGATE_NATS_PASSWORD="+pw[svc])
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() {
				s := out.String()
				t.Logf("driftgate %s log (tail):\n%s", svc, s[max(0, len(s)-8000):])
			}
		})
	}

	// next waits for the first event in the stream that match accepts. The
	// test reads as admin (it is the harness); the reader's turn is the CLI's.
	next := func(what string, limit time.Duration, match func(d events.Data) bool) events.Data {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, limit)
		defer wcancel()
		c, err := admin.js.OrderedConsumer(wctx, events.StreamName, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := c.Next(jetstream.FetchContext(wctx))
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			_, d, err := events.Decode(m.Data())
			if err == nil && match(d) {
				return d
			}
		}
	}
	f := next("drift.detected unimported from the planner", 5*time.Minute, func(d events.Data) bool {
		dd, ok := d.(*events.DriftDetected)
		return ok && dd.Finding.Class == events.ClassUnimported && dd.Finding.Address == lostAddr
	}).(*events.DriftDetected).Finding
	reader := connectAs(t, url, "reader", pw["reader"])
	findings, err := reader.js.KeyValue(ctx, events.BucketFindings)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := findings.Get(ctx, f.ID); err != nil {
		t.Fatalf("the planner's finding %s is not in the findings bucket: %v", f.ID, err)
	}
	next("import.requested from the importer", 2*time.Minute, func(d events.Data) bool {
		im, ok := d.(*events.Import)
		return ok && im.Verb() == events.ImportRequested && im.Address == lostAddr
	})

	// The watcher: its inventory holds the namespace's objects once it has
	// synced (the baseline publishes nothing); an object created from then on
	// is an object.changed.
	inventory, err := admin.js.KeyValue(ctx, events.BucketInventory)
	if err != nil {
		t.Fatal(err)
	}
	for synced := false; !synced; {
		if kl, err := inventory.ListKeys(ctx); err == nil {
			for k := range kl.Keys() {
				synced = synced || strings.Contains(k, "."+events.EscapeToken(ns)+".")
			}
		}
		if !synced {
			select {
			case <-ctx.Done():
				t.Fatal("the watcher wrote no inventory record of the namespace")
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if _, err := l.Kube().CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "made-live"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
		t.Fatal(err)
	}
	next("object.changed from the watcher", 2*time.Minute, func(d events.Data) bool {
		oc, ok := d.(*events.ObjectChanged)
		return ok && oc.Object.Namespace == ns && oc.Object.Name == "made-live"
	})

	// The approver approves through the CLI: the decision RPC, nothing else.
	cli := func(user string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(base, "DRIFTGATE_NATS_USER="+user, "DRIFTGATE_NATS_PASSWORD="+pw[user], "DRIFTGATE_NATS_URL="+url)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("driftgate %s as %s: %v\n%s%s", strings.Join(args, " "), user, err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if out := cli("approver", "approve", f.ID, "--by", "alice", "--reason", "lost by CI"); !strings.Contains(out, "approved") {
		t.Fatalf("approve: %s", out)
	}
	done := next("the import's outcome", 5*time.Minute, func(d events.Data) bool {
		im, ok := d.(*events.Import)
		return ok && im.Address == lostAddr && (im.Verb() == events.ImportSucceeded || im.Verb() == events.ImportFailed ||
			im.Verb() == events.ImportRolledBack || im.Verb() == events.ImportRejected)
	}).(*events.Import)
	if done.Verb() != events.ImportSucceeded {
		t.Fatalf("import.%s at %s: %s", done.Verb(), done.Step, done.Reason)
	}
	// The notifier delivered: its receipt is in the stream, the body at the hook.
	next("alert.delivered from the notifier", 2*time.Minute, func(d events.Data) bool {
		a, ok := d.(*events.Alert)
		return ok && !a.Failed()
	})
	hookMu.Lock()
	got := strings.Join(hookBodies, "\n")
	hookMu.Unlock()
	if !strings.Contains(got, lostAddr) {
		t.Errorf("the webhook got nothing about %s", lostAddr)
	}
	// The reader reads the audit trail through the CLI.
	if out := cli("reader", "audit", "-o", "jsonl", "--type", "import"); strings.Count(out, "\n") < 3 || !strings.Contains(out, "alice") {
		t.Errorf("audit as reader:\n%s", out)
	}

	// No permissions violation, on the server's side or any service's.
	if v := grepLines(serverLog(), "Violation"); v != "" {
		t.Errorf("the server logged violations:\n%s", v)
	}
	for svc, out := range logs {
		if v := grepLines(out.String(), "iolation", "NATS reported an error"); v != "" {
			t.Errorf("driftgate %s logged:\n%s", svc, v)
		}
	}
}

// grepLines returns the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
