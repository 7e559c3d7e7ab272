// Package controllers_test runs the test operator and the churn source
// against a lab and checks they do what driftgate's tests rely on.
package controllers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/driftgate/driftgate/test/controllers/churn"
	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

// terraform is the field manager the tests write with, as a Terraform
// provider would.
const terraform = "terraform"

func TestControllers(t *testing.T) {
	l := lab.Start(t, lab.WithoutS3(), lab.WithoutControllerManager())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if err := operator.InstallCRDs(ctx, l.Dynamic()); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"db", "apps"} {
		if _, err := l.Kube().CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("operator", func(t *testing.T) { testOperator(ctx, t, l) })
	t.Run("churn", func(t *testing.T) { testChurn(ctx, t, l) })
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

// run runs a controller until the test ends.
func run(t *testing.T, ctx context.Context, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}

func testOperator(ctx context.Context, t *testing.T, l *lab.Lab) {
	run(t, ctx, operator.New(l.Dynamic(), operator.WithNamespace("db"), operator.WithLogger(testLogger(t))).Run)
	clusters := l.Dynamic().Resource(operator.ClusterResource).Namespace("db")

	// Terraform creates a Cluster that sets some fields, leaves others out.
	_, err := clusters.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "pg"},
		"spec": map[string]any{
			"instances":  int64(2),
			"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "200"}},
		},
	}}, metav1.CreateOptions{FieldManager: terraform})
	if err != nil {
		t.Fatal(err)
	}

	c := waitCluster(ctx, t, l, "pg", func(c *unstructured.Unstructured) bool {
		ready, _, _ := unstructured.NestedInt64(c.Object, "status", "readyInstances")
		size, _, _ := unstructured.NestedString(c.Object, "spec", "storage", "size")
		return ready == 2 && size != ""
	})
	for _, d := range operator.ClusterDefaults {
		got, _, _ := unstructured.NestedFieldNoCopy(c.Object, d.Path...)
		want := d.Value
		if strings.Join(d.Path, ".") == "spec.postgresql.parameters.max_connections" {
			want = "200" // Terraform's value stays
		}
		if got != want {
			t.Errorf("%s = %v, want %v", strings.Join(d.Path, "."), got, want)
		}
	}
	if !owns(t, c, operator.FieldManager, "", "spec", "storage", "size") ||
		!owns(t, c, operator.FieldManager, "", "spec", "postgresql", "parameters", "shared_buffers") {
		t.Errorf("defaults not owned by %s: %s", operator.FieldManager, managedFieldsJSON(c))
	}
	if owns(t, c, operator.FieldManager, "", "spec", "postgresql", "parameters", "max_connections") {
		t.Errorf("the operator took over Terraform's max_connections: %s", managedFieldsJSON(c))
	}
	if !owns(t, c, operator.FieldManager, "status", "status", "readyInstances") {
		t.Errorf("status not written by %s: %s", operator.FieldManager, managedFieldsJSON(c))
	}

	// Terraform scales the cluster and sets the storage size: the operator
	// reports the new size and leaves Terraform's storage size alone.
	patch := []byte(`{"spec":{"instances":3,"storage":{"size":"5Gi"}}}`)
	if _, err := clusters.Patch(ctx, "pg", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: terraform}); err != nil {
		t.Fatal(err)
	}
	c = waitCluster(ctx, t, l, "pg", func(c *unstructured.Unstructured) bool {
		ready, _, _ := unstructured.NestedInt64(c.Object, "status", "readyInstances")
		conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
		return ready == 3 && len(conds) == 1 && conds[0].(map[string]any)["observedGeneration"] == c.GetGeneration()
	})
	if size, _, _ := unstructured.NestedString(c.Object, "spec", "storage", "size"); size != "5Gi" {
		t.Errorf("storage size %q after Terraform set 5Gi", size)
	}
	if owns(t, c, operator.FieldManager, "", "spec", "storage", "size") {
		t.Errorf("the operator still owns storage size after Terraform set it: %s", managedFieldsJSON(c))
	}
	if got := c.GetResourceVersion(); !settled(ctx, t, l, "pg", got) {
		t.Error("the operator keeps writing a reconciled cluster")
	}

	// ScheduledBackup defaults and status.
	backups := l.Dynamic().Resource(operator.ScheduledBackupResource).Namespace("db")
	if _, err := backups.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
		"metadata": map[string]any{"name": "pg-nightly"},
		"spec":     map[string]any{"schedule": "0 0 2 * * *", "cluster": map[string]any{"name": "pg"}},
	}}, metav1.CreateOptions{FieldManager: terraform}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := backups.Get(ctx, "pg-nightly", metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // poll
		}
		method, _, _ := unstructured.NestedString(b.Object, "spec", "method")
		checked, _, _ := unstructured.NestedString(b.Object, "status", "lastCheckTime")
		return method == "barmanObjectStore" && checked != "", nil
	}); err != nil {
		t.Errorf("scheduled backup not defaulted: %v", err)
	}
}

func waitCluster(ctx context.Context, t *testing.T, l *lab.Lab, name string, ok func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var c *unstructured.Unstructured
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		c, err = l.Dynamic().Resource(operator.ClusterResource).Namespace("db").Get(ctx, name, metav1.GetOptions{})
		return err == nil && ok(c), nil
	}); err != nil {
		t.Fatalf("cluster %s: %v\n%v", name, err, c)
	}
	return c
}

// settled reports whether the cluster's resourceVersion stays rv while the
// operator has time to react (it must not loop on its own writes).
func settled(ctx context.Context, t *testing.T, l *lab.Lab, name, rv string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, false, func(ctx context.Context) (bool, error) {
		c, err := l.Dynamic().Resource(operator.ClusterResource).Namespace("db").Get(ctx, name, metav1.GetOptions{})
		return err == nil && c.GetResourceVersion() != rv, nil
	})
	return err != nil // no change within the window
}

// owns reports whether manager owns the field at path (on subresource).
func owns(t *testing.T, obj *unstructured.Unstructured, manager, subresource string, path ...string) bool {
	t.Helper()
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Subresource != subresource || mf.FieldsV1 == nil {
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &fields); err != nil {
			t.Fatal(err)
		}
		node, found := any(fields), true
		for _, p := range path {
			m, ok := node.(map[string]any)
			if !ok {
				found = false
				break
			}
			if node, ok = m["f:"+p]; !ok {
				found = false
				break
			}
		}
		if found {
			return true
		}
	}
	return false
}

func managedFieldsJSON(obj *unstructured.Unstructured) string {
	b, _ := json.Marshal(obj.GetManagedFields())
	return string(b)
}

func testChurn(ctx context.Context, t *testing.T, l *lab.Lab) {
	configmaps := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	run(t, ctx, churn.New(l.Dynamic(), "shop", []schema.GroupVersionResource{configmaps},
		churn.WithNamespace("apps"), churn.WithNames("tracked"), churn.WithLogger(testLogger(t))).Run)
	cms := l.Kube().CoreV1().ConfigMaps("apps")
	for _, name := range []string{"tracked", "untracked"} {
		// With data: an object created with no fields at all gets no
		// managedFields, and the API server then tracks no later update either.
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": "v"}},
			metav1.CreateOptions{FieldManager: terraform}); err != nil {
			t.Fatal(err)
		}
	}
	waitLabel := func() *corev1.ConfigMap {
		t.Helper()
		var cm *corev1.ConfigMap
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			cm, err = cms.Get(ctx, "tracked", metav1.GetOptions{})
			return err == nil && cm.Labels[churn.Label] == "shop", nil
		}); err != nil {
			t.Fatalf("label not (re-)added: %v", err)
		}
		return cm
	}

	waitLabel()
	for i := range 3 {
		// Terraform strips the label; the churn source puts it back.
		patch := []byte(`{"metadata":{"labels":{"` + churn.Label + `":null}}}`)
		if _, err := cms.Patch(ctx, "tracked", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: terraform}); err != nil {
			t.Fatal(err)
		}
		cm := waitLabel()
		found := false
		for _, mf := range cm.ManagedFields {
			if mf.Manager == churn.FieldManager && strings.Contains(string(mf.FieldsV1.Raw), churn.Label) {
				found = true
			}
		}
		if !found {
			t.Errorf("round %d: label not owned by %s: %+v", i, churn.FieldManager, cm.ManagedFields)
		}
	}
	cm, err := cms.Get(ctx, "untracked", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Labels[churn.Label]; ok {
		t.Error("the churn source labelled an object it does not track")
	}
}
