package importer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/services/importer/internal/live"
	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

const (
	marketplaceDir = "../../examples/marketplace"
	operatorDBDir  = "../../examples/operator-db"
)

// seedLive applies an example into a state of its own, so that its objects
// exist live: the starting point of seed 000 (live objects, empty state).
func seedLive(t testing.TB, l *lab.Lab, src string, bin lab.Binary, key string, vars ...string) {
	t.Helper()
	ctx := context.Background()
	w := l.NewWorkspace(t, src, bin, key)
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	var opts []tfexec.ApplyOption
	for _, v := range vars {
		opts = append(opts, tfexec.Var(v))
	}
	if err := w.Apply(ctx, opts...); err != nil {
		t.Fatal(err)
	}
}

// workspaceConfig writes a copy of src whose variables are tfvars, and a
// config with one workspace named name on it, over an empty state key.
func workspaceConfig(t testing.TB, l *lab.Lab, src string, bin lab.Binary, name, key, tfvars, extra string) (*config.File, Env) {
	t.Helper()
	w, err := l.PrepareWorkspace(src, filepath.Join(t.TempDir(), name), bin, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(tfvars), 0o644); err != nil {
		t.Fatal(err)
	}
	var bc strings.Builder
	for k, v := range l.BackendConfig(bin, key) {
		// Plain strings, as a person writes them (the lab quotes them as HCL).
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
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
%s%s
importer:
  lock_wait: 1m
`, l.Kubeconfig, name, w.Dir, l.BinaryPath(bin), bc.String(), extra)
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "driftgate.yaml"), []byte(yml))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, yml)
	}
	for _, kv := range l.Env() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, v)
		}
	}
	return cfg, Env{Environ: append(os.Environ(), l.Env()...), Getenv: func(string) string { return "" }}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestBootstrapMarketplace is seed 000: the marketplace's ten objects are
// live, the state is empty; bootstrap adopts them all and driftgate gate
// then exits 0.
func TestBootstrapMarketplace(t *testing.T) {
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) {
			ctx := context.Background()
			ns := "boot-" + string(bin)
			seedLive(t, l, marketplaceDir, bin, "seed/"+ns+".tfstate", "namespace="+ns)
			cfg, env := workspaceConfig(t, l, marketplaceDir, bin, "marketplace", "boot/"+ns+".tfstate",
				fmt.Sprintf("namespace = %q\n", ns), `    high_risk_kinds: [statefulsets.apps, persistentvolumeclaims, clusters.postgresql.cnpg.io]
    ignore:
      - {resource: deployments.apps, paths: [spec.replicas], managers: [horizontal-pod-autoscaler]}
      - {managers: [argocd-controller]}`)
			lr, err := live.NewReader(l.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			web := events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: ns, Name: "marketplace"}
			webBefore, err := lr.Snapshot(ctx, web)
			if err != nil || len(webBefore.Pods) == 0 {
				t.Fatalf("marketplace pods before: %+v %v", webBefore.Pods, err)
			}

			// The dry run changes nothing and predicts every import.
			o := BootstrapOptions{Config: cfg, Workspace: "marketplace", DataDir: t.TempDir(), Env: env, Log: testLog(t), DryRun: true}
			dry, err := Bootstrap(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(dry.Items) != 10 {
				t.Fatalf("dry run: %d unimported objects, want 10: %+v", len(dry.Items), dry.Items)
			}
			for _, it := range dry.Items {
				if it.Status != StatusWouldImport {
					t.Errorf("dry run: %s %s %v", it.Finding.Address, it.Status, it.Diff)
				}
			}
			if v, _ := l.StateVersions(ctx, "boot/"+ns+".tfstate"); len(v) != 0 {
				t.Errorf("the dry run wrote %d state versions", len(v))
			}

			o.DryRun = false
			start := time.Now()
			res, err := Bootstrap(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("bootstrap of %d objects in %s", len(res.Items), time.Since(start).Round(time.Millisecond))
			for i, it := range res.Items {
				t.Logf("%2d. %-11s %-55s %5dms settled=%v ignored=%v %s %v", i+1, it.Status, it.Finding.Address, it.DurationMS, it.Settled, it.Ignored, it.Reason, it.Diff)
				if it.Status != execute.Succeeded {
					t.Errorf("%s: %s at %s: %s %v", it.Finding.Address, it.Status, it.Step, it.Reason, it.Diff)
				}
			}
			if len(res.Items) != 10 {
				t.Errorf("%d imports, want 10", len(res.Items))
			}
			if len(res.Items) > 0 && res.Items[0].Finding.Risk != events.RiskHigh {
				t.Errorf("first import %s is not the high-risk one (the Secret)", res.Items[0].Finding.Address)
			}
			if !res.Clean {
				t.Errorf("the plan after bootstrap is not clean: %+v", res.Remaining)
			}
			// driftgate gate exits 0.
			rep, err := gate.Run(ctx, gate.Options{Config: cfg, Workspace: "marketplace", DataDir: t.TempDir(), Environ: env.Environ,
				Getenv: env.Getenv, Kube: l.RESTConfig(), Timeout: 5 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if rep.ExitCode() != gate.ExitClean {
				t.Errorf("gate exit %d after bootstrap: %+v", rep.ExitCode(), rep.Findings)
			}
			// Nothing live was touched: same pods, same restarts.
			webAfter, _ := lr.Snapshot(ctx, web)
			if ch := live.Changes(webBefore, webAfter); len(ch) > 0 {
				t.Errorf("marketplace Deployment changed: %v", ch)
			}
			// A second bootstrap finds nothing to do.
			again, err := Bootstrap(ctx, o)
			if err != nil || len(again.Items) != 0 || !again.Clean {
				t.Errorf("second bootstrap: %+v %v", again, err)
			}
		})
	}
}

// TestBootstrapOperatorDB is seed 004: the operator-managed Postgres Cluster
// is imported first and alone; the fields the operator defaulted do not fail
// verification; no pod is replaced or restarted.
func TestBootstrapOperatorDB(t *testing.T) {
	l := lab.Start(t)
	if err := operator.InstallCRDs(context.Background(), l.Dynamic()); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testBootstrapOperatorDB(t, l, bin) })
	}
}

func testBootstrapOperatorDB(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns := "db-" + string(bin)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- operator.New(l.Dynamic(), operator.WithNamespace(ns), operator.WithLogger(testLog(t))).Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	seedLive(t, l, operatorDBDir, bin, "seed/"+ns+".tfstate", "namespace="+ns)
	clusters := l.Dynamic().Resource(operator.ClusterResource).Namespace(ns)
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		c, err := clusters.Get(ctx, "marketplace-db", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // until it exists
		}
		image, _, _ := unstructured.NestedString(c.Object, "spec", "imageName")
		return image != "", nil
	}); err != nil {
		t.Fatalf("the operator did not default the cluster: %v", err)
	}
	cfg, env := workspaceConfig(t, l, operatorDBDir, bin, "operator-db", "boot/"+ns+".tfstate", fmt.Sprintf("namespace = %q\n", ns),
		`    high_risk_kinds: [clusters.postgresql.cnpg.io]`)
	db := events.ObjectRef{Cluster: "lab", Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: ns, Name: "marketplace-db"}
	lr, err := live.NewReader(l.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	dbBefore, err := lr.Snapshot(ctx, db)
	if err != nil || !dbBefore.Exists {
		t.Fatalf("the Cluster before: exists=%v %v", dbBefore.Exists, err)
	}

	// The decision table, from a dry-run plan: import everything, the
	// Cluster first.
	rep, err := ReportFromPlan(ctx, BootstrapOptions{Config: cfg, Workspace: "operator-db", DataDir: t.TempDir(), Env: env, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	_ = rep.WriteMarkdown(&md)
	t.Logf("report:\n%s", md.String())
	if len(rep.Rows) != 4 || rep.Rows[0].Address != "kubectl_manifest.cluster" || rep.Rows[0].Action != ActionImport || !rep.Rows[0].Stateful ||
		rep.Rows[0].ConfigDiff == nil || len(rep.Rows[0].ConfigDiff) != 0 || rep.Rows[0].CreatedBy == "" {
		t.Errorf("report rows: %+v", rep.Rows)
	}

	res, err := Bootstrap(ctx, BootstrapOptions{Config: cfg, Workspace: "operator-db", DataDir: t.TempDir(), Env: env, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for i, it := range res.Items {
		order = append(order, it.Finding.Address)
		t.Logf("%d. %-10s %-35s risk=%s %5dms settled=%v ignored=%v %s %v", i+1, it.Status, it.Finding.Address, it.Finding.Risk,
			it.DurationMS, it.Settled, it.Ignored, it.Reason, it.Diff)
		if it.Status != execute.Succeeded {
			t.Errorf("%s: %s at %s: %s %v", it.Finding.Address, it.Status, it.Step, it.Reason, it.Diff)
		}
	}
	if len(order) == 0 || order[0] != "kubectl_manifest.cluster" {
		t.Errorf("import order %v: the Cluster must go first", order)
	}
	if !res.Clean {
		t.Errorf("the plan after bootstrap is not clean: %+v", res.Remaining)
	}
	// The Cluster is untouched: same generation, no write but the
	// operator's status, no pod replaced or restarted.
	dbAfter, _ := lr.Snapshot(ctx, db)
	if ch := live.Changes(dbBefore, dbAfter); len(ch) > 0 {
		t.Errorf("the Cluster changed: %v", ch)
	}
}
