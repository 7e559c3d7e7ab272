// Package examples_test applies the example workspaces in examples/ to a lab
// with OpenTofu and Terraform and checks that they come out clean.
package examples_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/test/controllers/churn"
	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

const (
	marketplaceDir = "../../examples/marketplace"
	operatorDBDir  = "../../examples/operator-db"
)

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestExamples applies both examples to one lab: marketplace with tofu and
// with terraform side by side (each in its own namespace and state key), then
// operator-db with tofu next to the test operator.
func TestExamples(t *testing.T) {
	l := lab.Start(t)
	t.Run("marketplace", func(t *testing.T) {
		for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
			t.Run(string(bin), func(t *testing.T) {
				t.Parallel()
				testMarketplace(t, l, bin)
			})
		}
	})
	t.Run("operator-db", func(t *testing.T) { testOperatorDB(t, l) })
}

// marketplaceObjects are the ten objects the example manages, by kind/name.
var marketplaceObjects = []struct {
	resource schema.GroupVersionResource
	name     string
}{
	{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "marketplace-config"},
	{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, "marketplace-db"},
	{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, "marketplace"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, "marketplace"},
	{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, "marketplace"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "marketplace"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "marketplace"},
	{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, "recommendations"},
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "recommendations"},
}

func testMarketplace(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx := testContext(t)
	ns := "shop-" + string(bin)
	w := l.NewWorkspace(t, marketplaceDir, bin, "marketplace-"+string(bin)+"/terraform.tfstate")
	nsVar := tfexec.Var("namespace=" + ns)

	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx, nsVar); err != nil {
		t.Fatal(err)
	}

	if _, err := l.Kube().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace: %v", err)
	}
	for _, o := range marketplaceObjects {
		if _, err := l.Dynamic().Resource(o.resource).Namespace(ns).Get(ctx, o.name, metav1.GetOptions{}); err != nil {
			t.Errorf("%s %s: %v", o.resource.Resource, o.name, err)
		}
	}
	svc, err := l.Kube().CoreV1().Services(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort == 0 || svc.Spec.Ports[0].TargetPort.IntValue() != 5000 {
		t.Errorf("marketplace service: type %s, ports %+v; want a NodePort to 5000", svc.Spec.Type, svc.Spec.Ports)
	}
	rec, err := l.Kube().CoreV1().Services(ns).Get(ctx, "recommendations", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Spec.Type != corev1.ServiceTypeClusterIP || rec.Spec.Ports[0].Port != 50051 {
		t.Errorf("recommendations service: type %s, ports %+v; want ClusterIP on 50051", rec.Spec.Type, rec.Spec.Ports)
	}
	assertVersions(ctx, t, l, w.Key, 1)

	assertZeroDiff(ctx, t, w, nsVar)
	assertVersions(ctx, t, l, w.Key, 1)

	// A second apply that changes something adds exactly one state version.
	replicas := tfexec.Var("marketplace_replicas=3")
	if err := w.Apply(ctx, nsVar, replicas); err != nil {
		t.Fatal(err)
	}
	dep, err := l.Kube().AppsV1().Deployments(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 3 {
		t.Errorf("marketplace replicas %d after apply, want 3", *dep.Spec.Replicas)
	}
	assertVersions(ctx, t, l, w.Key, 2)
	assertZeroDiff(ctx, t, w, nsVar, replicas)

	if bin == lab.Tofu {
		t.Run("churn: a label the churn source re-adds shows in every plan", func(t *testing.T) {
			testChurnLoop(ctx, t, l, w, ns, nsVar, replicas)
		})
	}
}

// testChurnLoop runs the Argo CD stand-in against the Terraform-managed
// marketplace Deployment: its label shows as drift, apply strips it, the
// controller puts it back, and the next plan shows it again.
func testChurnLoop(ctx context.Context, t *testing.T, l *lab.Lab, w *lab.Workspace, ns string, vars ...*tfexec.VarOption) {
	var planOpts []tfexec.PlanOption
	var applyOpts []tfexec.ApplyOption
	for _, v := range vars {
		planOpts, applyOpts = append(planOpts, v), append(applyOpts, v)
	}
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- churn.New(l.Dynamic(), "shop", []schema.GroupVersionResource{deployments},
			churn.WithNamespace(ns), churn.WithNames("marketplace"), churn.WithLogger(testLogger(t))).Run(cctx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	waitLabel(ctx, t, l, ns, time.Time{})
	changes, err := w.Plan(ctx, planOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if !changes {
		t.Fatal("plan shows no change although the churn source added a label")
	}
	applied := time.Now().Truncate(time.Second)
	if err := w.Apply(ctx, applyOpts...); err != nil {
		t.Fatal(err)
	}
	waitLabel(ctx, t, l, ns, applied) // stripped by the apply, then put back
	changes, err = w.Plan(ctx, planOpts...)
	if err != nil {
		t.Fatal(err)
	}
	if !changes {
		t.Fatal("plan after apply shows no change although the churn source re-added the label")
	}
	dep, err := l.Kube().AppsV1().Deployments(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !managedBy(dep.ManagedFields, churn.FieldManager, "f:"+churn.Label) {
		t.Errorf("label not owned by %s: %+v", churn.FieldManager, dep.ManagedFields)
	}
}

// waitLabel waits until the churn source has (re-)added its label to the
// marketplace Deployment at or after since.
func waitLabel(ctx context.Context, t *testing.T, l *lab.Lab, ns string, since time.Time) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := l.Kube().AppsV1().Deployments(ns).Get(ctx, "marketplace", metav1.GetOptions{})
		if err != nil || d.Labels[churn.Label] != "shop" {
			return false, nil //nolint:nilerr // poll until labelled
		}
		for _, mf := range d.ManagedFields {
			if mf.Manager == churn.FieldManager && mf.Time != nil && !mf.Time.Time.Before(since) {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatalf("churn source did not label the deployment: %v", err)
	}
}

func managedBy(mfs []metav1.ManagedFieldsEntry, manager, field string) bool {
	for _, mf := range mfs {
		if mf.Manager == manager && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), field) {
			return true
		}
	}
	return false
}

func testOperatorDB(t *testing.T, l *lab.Lab) {
	ctx := testContext(t)
	if err := operator.InstallCRDs(ctx, l.Dynamic()); err != nil {
		t.Fatal(err)
	}
	octx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- operator.New(l.Dynamic(), operator.WithNamespace("db"), operator.WithLogger(testLogger(t))).Run(octx)
	}()
	t.Cleanup(func() { cancel(); <-done })

	w := l.NewWorkspace(t, operatorDBDir, lab.Tofu, "operator-db/terraform.tfstate")
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}

	clusters := l.Dynamic().Resource(operator.ClusterResource).Namespace("db")
	var c *unstructured.Unstructured
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		c, err = clusters.Get(ctx, "marketplace-db", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // poll until it is there
		}
		ready, _, _ := unstructured.NestedInt64(c.Object, "status", "readyInstances")
		image, _, _ := unstructured.NestedString(c.Object, "spec", "imageName")
		return ready == 3 && image != "", nil
	}); err != nil {
		t.Fatalf("operator did not default and report the cluster: %v\n%v", err, c)
	}
	params, _, _ := unstructured.NestedStringMap(c.Object, "spec", "postgresql", "parameters")
	if params["max_connections"] != "200" || params["shared_buffers"] == "" {
		t.Errorf("parameters %v: want Terraform's max_connections=200 kept and shared_buffers defaulted", params)
	}
	if size, _, _ := unstructured.NestedString(c.Object, "spec", "storage", "size"); size != "10Gi" {
		t.Errorf("storage size %q: want Terraform's 10Gi kept", size)
	}

	// The operator's fields are not Terraform's: the plan stays clean.
	assertZeroDiff(ctx, t, w)
	assertVersions(ctx, t, l, w.Key, 1)
}

func assertVersions(ctx context.Context, t *testing.T, l *lab.Lab, key string, want int) {
	t.Helper()
	vs, err := l.StateVersions(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != want {
		t.Errorf("state %s has %d object versions, want %d", key, len(vs), want)
	}
}

// assertZeroDiff plans and fails if the plan has changes or drift. Drift
// that only turns a null into an empty map or list is not drift: the
// hashicorp/kubernetes 1.13.4 provider (plugin SDK v1) stores null for unset
// optional collections when it creates an object and reads them back as empty
// on refresh, so the plan right after the first apply always carries such
// resource_drift entries (they vanish once an apply rewrites the state).
// Neither is a new resource_version: the controller manager writes a
// Deployment's status right after Terraform creates it.
func assertZeroDiff(ctx context.Context, t *testing.T, w *lab.Workspace, opts ...tfexec.PlanOption) {
	t.Helper()
	p, err := w.PlanJSON(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if d := describeChanges(p); d != "" {
		t.Errorf("%s plan is not clean:\n%s", w.Binary, d)
	}
}

func describeChanges(p *tfjson.Plan) string {
	var b strings.Builder
	for _, rc := range p.ResourceDrift {
		if d := diff(rc.Change.Before, rc.Change.After, "    "); d != "" {
			fmt.Fprintf(&b, "  drift %s: %v\n%s", rc.Address, rc.Change.Actions, d)
		}
	}
	for _, rc := range p.ResourceChanges {
		if !rc.Change.Actions.NoOp() && !rc.Change.Actions.Read() {
			fmt.Fprintf(&b, "  %s: %v\n%s", rc.Address, rc.Change.Actions, diff(rc.Change.Before, rc.Change.After, "    "))
		}
	}
	return b.String()
}

// diff lists the leaves that differ between two JSON values.
func diff(before, after any, indent string) string {
	var b strings.Builder
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		switch xv := x.(type) {
		case map[string]any:
			yv, ok := y.(map[string]any)
			if !ok {
				break
			}
			keys := map[string]bool{}
			for k := range xv {
				keys[k] = true
			}
			for k := range yv {
				keys[k] = true
			}
			for k := range keys {
				walk(path+"."+k, xv[k], yv[k])
			}
			return
		case []any:
			yv, ok := y.([]any)
			if !ok || len(xv) != len(yv) {
				break
			}
			for i := range xv {
				walk(fmt.Sprintf("%s[%d]", path, i), xv[i], yv[i])
			}
			return
		}
		if empty(x) && empty(y) || strings.HasSuffix(path, ".resource_version") {
			return
		}
		if fmt.Sprint(x) != fmt.Sprint(y) {
			fmt.Fprintf(&b, "%s%s: %v -> %v\n", indent, path, x, y)
		}
	}
	walk("", before, after)
	return b.String()
}

// empty reports whether v is null, an empty object or an empty list.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// TestMarketplaceConfigLoads checks the example's driftgate.yaml against the
// config package.
func TestMarketplaceConfigLoads(t *testing.T) {
	f, err := config.Load(marketplaceDir + "/driftgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := f.Workspace("marketplace")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Cluster != "lab" || ws.Binary != "tofu" || ws.BackendConfig["bucket"] != lab.StateBucket ||
		ws.BackendConfig["key"] != "marketplace/terraform.tfstate" {
		t.Errorf("workspace %+v", ws)
	}
	if dir := f.ResolveDir(ws.Dir); dir != marketplaceDir {
		t.Errorf("workspace dir resolves to %s, want %s", dir, marketplaceDir)
	}
}
