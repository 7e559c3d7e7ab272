package watcher_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/watcher/internal/cluster"
	"github.com/driftgate/driftgate/test/lab"
)

// testScope: two clusters from one config, a namespace filter and a label
// selector. Both "clusters" are the lab under two names, so their events
// share object uids and resourceVersions; the event id names the cluster,
// so each cluster's event is stored (once), and each cluster's inventory
// shows that both watch.
func testScope(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	other := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	cfg := &config.File{
		Clusters: []config.Cluster{{Name: "east", Kubeconfig: l.Kubeconfig}, {Name: "west", Kubeconfig: l.Kubeconfig}},
		Watch:    config.Watch{Resources: []string{"cm"}, Namespaces: []string{ns}, LabelSelector: "team=a"},
	}
	startWatcher(t, env, cfg, "scope")
	for _, c := range []string{"east", "west"} {
		s.wait(t, time.Minute, c+" synced", func(r received) bool {
			h, ok := r.Data.(*events.ClusterHealth)
			return ok && synced("scope")(r) && h.Cluster == c
		})
	}
	cms := func(n string) interface {
		Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
	} {
		return l.Kube().CoreV1().ConfigMaps(n)
	}
	mk := func(n, name, team string) {
		t.Helper()
		if _, err := cms(n).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": team}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mk(ns, "b-team", "b")
	mk(other, "a-elsewhere", "a")
	mk(ns, "a-team", "a")
	r := s.wait(t, 30*time.Second, "a-team added", isChange("ConfigMap", ns, "a-team", events.ChangeAdded))
	if oc := r.Data.(*events.ObjectChanged); oc.Resource != "configmaps" {
		t.Fatalf("resource %q: the short name cm is reported as configmaps", oc.Resource)
	}
	// Relabelled into the selector: it appears.
	if _, err := l.Kube().CoreV1().ConfigMaps(ns).Patch(ctx, "b-team", types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"a"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second, "relabelled b-team", isChange("ConfigMap", ns, "b-team", events.ChangeAdded))
	// A marker created last: once each cluster has recorded it in its
	// inventory (a record is written after its event is published), each
	// cluster's queue is past what came before it, a-elsewhere's creation
	// and b-team's relabel, so a second b-team event or one of a-elsewhere
	// would be in the stream already.
	mk(ns, "z-marker", "a")
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range []string{"east", "west"} {
		for _, name := range []string{"a-team", "b-team", "z-marker"} {
			key := events.InventoryKey(events.ObjectRef{Cluster: c, Kind: "ConfigMap", Namespace: ns, Name: name})
			for {
				if _, ok := kvContents(t, env.Buckets.Inventory)[key]; ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("inventory of %s lacks %s", c, name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	s.WaitCaughtUp(t, 30*time.Second)
	if got := s.changes("ConfigMap", other, "a-elsewhere"); len(got) != 0 {
		t.Errorf("object outside the watched namespaces reported: %+v", got)
	}
	byCluster := map[string]int{}
	for _, oc := range s.changes("ConfigMap", ns, "b-team") {
		byCluster[oc.Object.Cluster]++
	}
	if want := map[string]int{"east": 1, "west": 1}; !maps.Equal(byCluster, want) {
		t.Errorf("b-team's events by cluster: %v, want one in each: %v", byCluster, want)
	}
	for _, c := range []string{"east", "west"} {
		if _, ok := kvContents(t, env.Buckets.Inventory)[events.InventoryKey(events.ObjectRef{Cluster: c, Kind: "ConfigMap", Namespace: other, Name: "a-elsewhere"})]; ok {
			t.Errorf("inventory of %s holds an object outside the watched namespaces", c)
		}
	}
}

// testCRDLater watches a custom resource that is not served yet: the watcher
// says so, watches the rest, and starts watching it once its CRD exists.
func testCRDLater(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	group := fmt.Sprintf("g%d.example.com", time.Now().UnixNano()%100000)
	resource := "widgets." + group
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, testConfig(l.Kubeconfig, []string{"configmaps", resource}, ns), "crd", func(o *cluster.Options) {
		o.ResolveRetry = time.Second
	})
	r := s.wait(t, time.Minute, "NotServed", isHealth(events.ComponentWatcher, "Synced", "False"))
	if h := r.Data.(*events.ClusterHealth); h.Reason != "NotServed" || !strings.Contains(h.Message, resource) {
		t.Fatalf("health %+v", h)
	}
	s.wait(t, time.Minute, "configmaps watched meanwhile", synced("crd"))

	crds := l.Dynamic().Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	crd := obj(t, strings.NewReplacer("GROUP", group).Replace(`{apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,
	  metadata: {name: widgets.GROUP},
	  spec: {group: GROUP, scope: Namespaced, names: {plural: widgets, singular: widget, kind: Widget},
	    versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]}}`))
	if _, err := crds.Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{}) })
	widgets := l.Dynamic().Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}).Namespace(ns)
	w := obj(t, `{apiVersion: `+group+`/v1, kind: Widget, metadata: {name: w1}, spec: {size: 3}}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := widgets.Create(ctx, w, metav1.CreateOptions{FieldManager: "kubectl-create"})
		if err == nil {
			break
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("create widget: %v", err)
		}
		time.Sleep(200 * time.Millisecond) // the CRD is not established yet
	}
	oc := s.wait(t, time.Minute, "widget added", isChange("Widget", ns, "w1", events.ChangeAdded)).Data.(*events.ObjectChanged)
	if oc.Resource != resource || oc.Object.Group != group {
		t.Fatalf("widget event %+v", oc)
	}
	if _, err := widgets.Patch(ctx, "w1", types.MergePatchType, []byte(`{"spec":{"size":5}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	oc = s.wait(t, 30*time.Second, "widget patched", isChange("Widget", ns, "w1", events.ChangeUpdated)).Data.(*events.ObjectChanged)
	if len(oc.Paths) != 1 || oc.Paths[0] != "spec.size" || oc.Attribution[0].Manager != "kubectl-patch" {
		t.Fatalf("widget update %+v", oc)
	}
}

// testAutoFromState runs with watch.resources [auto]: it watches namespaces
// and the workspace's declared kinds first, then the kinds the planner
// records from the workspace's state, as soon as they are recorded.
func testAutoFromState(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	cfg := testConfig(l.Kubeconfig, []string{"auto"}, ns)
	cfg.Workspaces = []config.Workspace{{Name: "shop", Cluster: "lab", Kinds: []string{"services"}}}
	startWatcher(t, env, cfg, "auto")
	watching := func(n int) func(received) bool {
		return func(r received) bool {
			return synced("auto")(r) && strings.HasPrefix(r.Data.(*events.ClusterHealth).Message, fmt.Sprintf("watching %d resources", n))
		}
	}
	s.wait(t, time.Minute, "namespaces and services synced", watching(2))
	cms := l.Kube().CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another cluster's workspace names a kind this cluster must not watch.
	for _, sk := range []events.StateKinds{
		{Workspace: "shop", Cluster: "lab", Resources: []string{"configmap", "service", "deployment.apps"}},
		{Workspace: "elsewhere", Cluster: "other", Resources: []string{"secret"}},
	} {
		if err := events.PutStateKinds(ctx, env.Buckets.State, sk); err != nil {
			t.Fatal(err)
		}
	}
	r := s.wait(t, time.Minute, "configmaps and deployments added", watching(4))
	if got := r.Data.(*events.ClusterHealth).Message; strings.Contains(got, "5 resources") {
		t.Fatalf("health %q", got)
	}
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	oc := s.wait(t, 30*time.Second, "after added", isChange("ConfigMap", ns, "after", events.ChangeAdded)).Data.(*events.ObjectChanged)
	if oc.Resource != "configmaps" {
		t.Fatalf("resource %q, want configmaps", oc.Resource)
	}
	if _, err := cms.Patch(ctx, "before", types.MergePatchType, []byte(`{"data":{"k":"v"}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	oc = s.wait(t, 30*time.Second, "before patched", isChange("ConfigMap", ns, "before", events.ChangeUpdated)).Data.(*events.ObjectChanged)
	if len(oc.Paths) != 1 || oc.Paths[0] != "data.k" {
		t.Fatalf("paths %q", oc.Paths)
	}
	if got := s.changes("ConfigMap", ns, "before"); len(got) != 1 {
		t.Errorf("before: %d events, want the update only (it existed before configmaps were watched)", len(got))
	}
}
