package watcher_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/watcher/internal/resources"
	"github.com/driftgate/driftgate/test/lab"
)

const rbacFile = "../../deploy/k8s/watcher/rbac.yaml"

func readManifests(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func convert[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	v := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRBACLeastPrivilege checks deploy/k8s/watcher/rbac.yaml: read-only
// verbs, no wildcards, exactly the default resources plus nodes, and only
// Leases in the watcher's own namespace to write.
func TestRBACLeastPrivilege(t *testing.T) {
	var clusterRoles []*rbacv1.ClusterRole
	var roles []*rbacv1.Role
	for _, u := range readManifests(t, rbacFile) {
		switch u.GetKind() {
		case "ClusterRole":
			clusterRoles = append(clusterRoles, convert[rbacv1.ClusterRole](t, u))
		case "Role":
			roles = append(roles, convert[rbacv1.Role](t, u))
		case "ServiceAccount", "ClusterRoleBinding", "RoleBinding":
		default:
			t.Errorf("unexpected %s in %s", u.GetKind(), rbacFile)
		}
	}
	if len(clusterRoles) != 1 || len(roles) != 1 {
		t.Fatalf("want one ClusterRole and one Role, got %d and %d", len(clusterRoles), len(roles))
	}
	granted := map[string]bool{}
	for _, r := range clusterRoles[0].Rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		if !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("cluster rule %v: verbs %v, want exactly get, list, watch", r.Resources, r.Verbs)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if g == "*" || res == "*" || strings.Contains(res, "/") {
					t.Errorf("wildcard or subresource in %+v", r)
				}
				granted[resources.NameOf(schema.GroupResource{Group: g, Resource: res})] = true
			}
		}
	}
	want := map[string]bool{"nodes": true}
	for _, n := range resources.Default {
		want[n] = true
	}
	for n := range want {
		if !granted[n] {
			t.Errorf("the watcher watches %s by default; the ClusterRole does not grant it", n)
		}
	}
	for n := range granted {
		if !want[n] {
			t.Errorf("the ClusterRole grants %s, which the watcher does not watch by default", n)
		}
	}
	if rs := roles[0].Rules; len(rs) != 1 || !slices.Equal(rs[0].APIGroups, []string{"coordination.k8s.io"}) ||
		!slices.Equal(rs[0].Resources, []string{"leases"}) || !slices.Equal(rs[0].Verbs, []string{"get", "create", "update"}) {
		t.Errorf("lease role rules %+v, want get/create/update on coordination.k8s.io leases only", rs)
	}
}

// testRBAC applies deploy/k8s/watcher/rbac.yaml to the lab and runs the
// watcher with a token of its ServiceAccount: everything it needs works.
func testRBAC(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	const saNS = "driftgate"
	if _, err := l.Kube().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: saNS}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	gvrs := map[string]schema.GroupVersionResource{
		"ServiceAccount":     {Version: "v1", Resource: "serviceaccounts"},
		"ClusterRole":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		"ClusterRoleBinding": {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		"Role":               {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		"RoleBinding":        {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"},
	}
	for _, u := range readManifests(t, rbacFile) {
		ri := l.Dynamic().Resource(gvrs[u.GetKind()])
		var err error
		if u.GetNamespace() != "" {
			_, err = ri.Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
		} else {
			_, err = ri.Create(ctx, u, metav1.CreateOptions{})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	kubeconfig, err := l.ServiceAccountKubeconfig(ctx, saNS, "driftgate-watcher")
	if err != nil {
		t.Fatal(err)
	}
	// The token really is least-privilege: it cannot read Pods.
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(rc)
	if _, err := sa.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 1}); !apierrors.IsForbidden(err) {
		t.Fatalf("the watcher's ServiceAccount may list pods (err %v)", err)
	}

	ns := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	cfg := &config.File{
		Clusters: []config.Cluster{{Name: "lab", Kubeconfig: kubeconfig}},
		Watch:    config.Watch{LeaderElection: true, LeaseNamespace: saNS}, // default resources, all namespaces
	}
	startWatcher(t, env, cfg, "rbac", shortLease(4*time.Second, 3*time.Second, 500*time.Millisecond))
	r := s.wait(t, time.Minute, "watcher synced with its ServiceAccount", synced("rbac"))
	if h := r.Data.(*events.ClusterHealth); !strings.Contains(h.Message, "watching 8 resources") {
		t.Fatalf("synced: %s", h.Message)
	}
	waitLeaseHolder(t, l, saNS, func(h string) bool { return h == "rbac" })

	if _, err := l.Kube().CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second, "secret added", isChange("Secret", ns, "s", events.ChangeAdded))
	if _, err := l.Kube().RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second, "role added", isChange("Role", ns, "r", events.ChangeAdded))
	for _, r := range s.all() {
		if h, ok := r.Data.(*events.ClusterHealth); ok && h.Component == events.ComponentWatcher && h.Status != "True" {
			t.Errorf("watcher health with its ServiceAccount: %s", h.Summary())
		}
	}
}
