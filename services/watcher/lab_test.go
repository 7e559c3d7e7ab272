package watcher_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/test/lab"
)

// TestLab runs the watcher against the lab's real kube-apiserver (and
// kube-controller-manager). The subtests share one lab; each has its own
// namespace and its own JetStream server.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, kube-apiserver and kube-controller-manager")
	}
	l := lab.Start(t, lab.WithoutS3())
	t.Run("ChangesOfEveryKind", func(t *testing.T) { testChanges(t, l) })
	t.Run("SecretValuesNeverLeave", func(t *testing.T) { testSecretCanary(t, l) })
	t.Run("RestartReportsWhatChangedWhileDown", func(t *testing.T) { testRestart(t, l) })
	t.Run("LeaderKilledStandbyTakesOver", func(t *testing.T) { testLeaderElection(t, l) })
	t.Run("NodeDiskPressure", func(t *testing.T) { testNodeHealth(t, l) })
	t.Run("LeastPrivilegeServiceAccount", func(t *testing.T) { testRBAC(t, l) })
	t.Run("TwoClustersNamespaceAndLabelFilters", func(t *testing.T) { testScope(t, l) })
	t.Run("CustomResourceServedLater", func(t *testing.T) { testCRDLater(t, l) })
	t.Run("AutoWatchesTheKindsInState", func(t *testing.T) { testAutoFromState(t, l) })
	// Last: it stops the API server.
	t.Run("APIServerOutage", func(t *testing.T) { testOutage(t, l) })
}

func createNamespace(l *lab.Lab) func(ctx context.Context, name string) error {
	return func(ctx context.Context, name string) error {
		_, err := l.Kube().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
}

// kubectl-style field managers: what kubectl 1.34 sends for each command.
const (
	mgrCreate = "kubectl-create"
	mgrPatch  = "kubectl-patch"
	mgrLabel  = "kubectl-label"
	mgrScale  = "kubectl-scale"
)

func obj(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// kindCase is one watched kind and the kubectl-style edits made to it.
type kindCase struct {
	resource string
	gvr      schema.GroupVersionResource
	kind     string
	manifest string // name: NAME, namespace: NS substituted
	patch    string // strategic merge patch as kubectl patch sends it; "" for none
	paths    []string
	scale    bool
}

var kindCases = []kindCase{
	{
		resource: "configmaps", gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, kind: "ConfigMap",
		manifest: `{apiVersion: v1, kind: ConfigMap, metadata: {name: NAME, namespace: NS}, data: {color: red, size: "3"}}`,
		patch:    `{"data":{"color":"blue"}}`, paths: []string{"data.color"},
	},
	{
		resource: "secrets", gvr: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, kind: "Secret",
		manifest: `{apiVersion: v1, kind: Secret, metadata: {name: NAME, namespace: NS}, stringData: {password: first-value}}`,
		patch:    `{"stringData":{"password":"second-value"}}`, paths: []string{"data.password"},
	},
	{
		resource: "services", gvr: schema.GroupVersionResource{Version: "v1", Resource: "services"}, kind: "Service",
		manifest: `{apiVersion: v1, kind: Service, metadata: {name: NAME, namespace: NS}, spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}}`,
		patch:    `{"spec":{"ports":[{"port":80,"targetPort":9090}]}}`, paths: []string{"spec.ports[port=80,protocol=TCP].targetPort"},
	},
	{
		resource: "deployments.apps", gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, kind: "Deployment",
		manifest: `{apiVersion: apps/v1, kind: Deployment, metadata: {name: NAME, namespace: NS}, spec: {replicas: 1, selector: {matchLabels: {app: NAME}},
		  template: {metadata: {labels: {app: NAME}}, spec: {containers: [{name: web, image: "nginx:1.27"}]}}}}`,
		patch: `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}`,
		paths: []string{"spec.template.spec.containers[name=web].image"}, scale: true,
	},
	{
		resource: "serviceaccounts", gvr: schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, kind: "ServiceAccount",
		manifest: `{apiVersion: v1, kind: ServiceAccount, metadata: {name: NAME, namespace: NS}, automountServiceAccountToken: true}`,
		patch:    `{"automountServiceAccountToken":false}`, paths: []string{"automountServiceAccountToken"},
	},
	{
		resource: "roles.rbac.authorization.k8s.io", gvr: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, kind: "Role",
		manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: NAME, namespace: NS}, rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]}`,
		patch:    `{"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]}`, paths: []string{"rules[0].verbs"},
	},
	{
		resource: "rolebindings.rbac.authorization.k8s.io", gvr: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, kind: "RoleBinding",
		manifest: `{apiVersion: rbac.authorization.k8s.io/v1, kind: RoleBinding, metadata: {name: NAME, namespace: NS},
		  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}, subjects: [{kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}]}`,
		patch: `{"subjects":[{"kind":"User","name":"alice","apiGroup":"rbac.authorization.k8s.io"},{"kind":"User","name":"bob","apiGroup":"rbac.authorization.k8s.io"}]}`,
		paths: []string{"subjects[name=bob]"},
	},
	{
		resource: "namespaces", gvr: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, kind: "Namespace",
		manifest: `{apiVersion: v1, kind: Namespace, metadata: {name: NAME}}`,
	},
}

// bookkeeping are paths the API server and kube-controller-manager change on
// their own after a kubectl command (a Deployment's revision annotation, a
// namespace's termination): reported, but not the command's own event.
func bookkeeping(oc *events.ObjectChanged) bool {
	if oc.Change != events.ChangeUpdated {
		return false
	}
	for _, p := range oc.Paths {
		switch p {
		case "metadata.annotations.deployment.kubernetes.io/revision", "metadata.deletionTimestamp",
			"metadata.deletionGracePeriodSeconds", "spec.finalizers":
		default:
			return false
		}
	}
	return true
}

func testChanges(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	nsKind := "w-ns-" + ns[len(ns)-5:]
	env := eventstest.Start(t)
	s := collect(t, env)
	var names []string
	for _, k := range kindCases {
		names = append(names, k.resource)
	}
	startWatcher(t, env, testConfig(l.Kubeconfig, names, ns, nsKind), "changes")
	s.wait(t, time.Minute, "watcher synced", synced("changes"))

	for _, k := range kindCases {
		t.Run(k.kind, func(t *testing.T) {
			name, namespace := "obj-"+strings.ToLower(k.kind), ns
			if k.kind == "Namespace" {
				name, namespace = nsKind, ""
			}
			ri := l.Dynamic().Resource(k.gvr)
			client := ri.Namespace(namespace)
			if namespace == "" {
				client = nil
			}
			do := func(what string, f func() error) {
				t.Helper()
				if err := f(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			var want []string // the changes the commands make, in order

			// kubectl create
			do("create", func() error {
				u := obj(t, strings.NewReplacer("NAME", name, "NS", namespace).Replace(k.manifest))
				var err error
				if client != nil {
					_, err = client.Create(ctx, u, metav1.CreateOptions{FieldManager: mgrCreate})
				} else {
					_, err = ri.Create(ctx, u, metav1.CreateOptions{FieldManager: mgrCreate})
				}
				return err
			})
			added := s.wait(t, 30*time.Second, "added "+name, isChange(k.kind, namespace, name, events.ChangeAdded)).Data.(*events.ObjectChanged)
			want = append(want, "added")
			if added.Relist || added.Resource != k.resource || added.Object.UID == "" || added.Object.Version != "v1" || added.Object.Cluster != "lab" {
				t.Fatalf("added event %+v", added)
			}
			if !slices.ContainsFunc(added.Managers, func(m events.PathOwner) bool { return m.Manager == mgrCreate }) {
				t.Fatalf("added: managers %+v lack %s", added.Managers, mgrCreate)
			}

			// A controller's bookkeeping write that lands while the command's
			// change is queued is reported with it (the queue holds keys).
			expectUpdate := func(what string, paths []string, manager string) {
				t.Helper()
				r := s.wait(t, 30*time.Second, what+" of "+name, func(r received) bool {
					oc, ok := r.Data.(*events.ObjectChanged)
					return ok && isChange(k.kind, namespace, name, events.ChangeUpdated)(r) && !bookkeeping(oc) &&
						slices.ContainsFunc(oc.Attribution, func(a events.PathOwner) bool { return a.Manager == manager })
				})
				oc := r.Data.(*events.ObjectChanged)
				if got := commandPaths(oc); !reflect.DeepEqual(got, paths) {
					t.Fatalf("%s: paths %q, want %q", what, oc.Paths, paths)
				}
				owner := ownerOf(oc, paths[0])
				// The API server records no time for writes through the scale
				// subresource.
				if owner.Manager != manager || owner.Operation != "Update" || owner.Time == nil && what != "scale" {
					t.Fatalf("%s: %s attributed to %+v, want %s with operation and time", what, paths[0], owner, manager)
				}
				want = append(want, what)
			}

			// kubectl patch
			if k.patch != "" {
				do("patch", func() error {
					_, err := client.Patch(ctx, name, types.StrategicMergePatchType, []byte(k.patch), metav1.PatchOptions{FieldManager: mgrPatch})
					return err
				})
				expectUpdate("patch", k.paths, mgrPatch)
			}
			// kubectl scale
			if k.scale {
				do("scale", func() error {
					_, err := l.Kube().AppsV1().Deployments(namespace).UpdateScale(ctx, name, &autoscalingv1.Scale{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: autoscalingv1.ScaleSpec{Replicas: 3},
					}, metav1.UpdateOptions{FieldManager: mgrScale})
					return err
				})
				expectUpdate("scale", []string{"spec.replicas"}, mgrScale)
			}
			// kubectl label
			do("label", func() error {
				p := []byte(`{"metadata":{"labels":{"tier":"gold"}}}`)
				var err error
				if client != nil {
					_, err = client.Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: mgrLabel})
				} else {
					_, err = ri.Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{FieldManager: mgrLabel})
				}
				return err
			})
			expectUpdate("label", []string{"metadata.labels.tier"}, mgrLabel)

			// kubectl delete
			do("delete", func() error {
				if client != nil {
					return client.Delete(ctx, name, metav1.DeleteOptions{})
				}
				return ri.Delete(ctx, name, metav1.DeleteOptions{})
			})
			deleted := s.wait(t, 2*time.Minute, "deleted "+name, isChange(k.kind, namespace, name, events.ChangeDeleted)).Data.(*events.ObjectChanged)
			want = append(want, "deleted")
			if deleted.Object.UID != added.Object.UID || deleted.Relist {
				t.Fatalf("deleted event %+v", deleted)
			}

			// One event per command: nothing else but the controllers'
			// bookkeeping. The watcher handles one object's changes one at a
			// time and publishes them in order, and the deletion is its last:
			// every event about it is in the stream before the deletion's.
			var got []string
			for _, oc := range s.changes(k.kind, namespace, name) {
				if bookkeeping(oc) {
					continue
				}
				switch oc.Change {
				case events.ChangeUpdated:
					got = append(got, updateName(oc))
				default:
					got = append(got, oc.Change)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("events of %s: %q, want one per command %q", name, got, want)
			}
		})
	}
}

// commandPaths are the paths of an update without the controllers'
// bookkeeping.
func commandPaths(oc *events.ObjectChanged) []string {
	var out []string
	for _, p := range oc.Paths {
		if !bookkeeping(&events.ObjectChanged{Change: events.ChangeUpdated, Paths: []string{p}}) {
			out = append(out, p)
		}
	}
	return out
}

// ownerOf is the newest owner of path in the event's attribution.
func ownerOf(oc *events.ObjectChanged, path string) events.Attribution {
	for _, a := range oc.Attribution {
		if a.Path == path {
			return a.Attribution
		}
	}
	return events.Attribution{}
}

func updateName(oc *events.ObjectChanged) string {
	switch ownerOf(oc, commandPaths(oc)[0]).Manager {
	case mgrPatch:
		return "patch"
	case mgrScale:
		return "scale"
	case mgrLabel:
		return "label"
	}
	return "update " + strings.Join(oc.Paths, ",")
}

const canary = "canary-3b9f0d2a-never-in-the-stream"

func testSecretCanary(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, testConfig(l.Kubeconfig, []string{"secrets", "configmaps"}, ns), "canary")
	s.wait(t, time.Minute, "watcher synced", synced("canary"))

	secrets := l.Kube().CoreV1().Secrets(ns)
	// kubectl apply keeps a copy of the data in an annotation: it must not leak either.
	lastApplied, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Secret", "stringData": map[string]string{"token": canary + "-0"}})
	_, err := secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(lastApplied)}},
		StringData: map[string]string{"token": canary + "-0", "user": "admin"},
	}, metav1.CreateOptions{FieldManager: "kubectl-client-side-apply"})
	if err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second, "secret added", isChange("Secret", ns, "db", events.ChangeAdded))
	_, err = secrets.Patch(ctx, "db", types.MergePatchType, []byte(`{"stringData":{"token":"`+canary+`-1"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"})
	if err != nil {
		t.Fatal(err)
	}
	r := s.wait(t, 30*time.Second, "secret edited", isChange("Secret", ns, "db", events.ChangeUpdated))
	oc := r.Data.(*events.ObjectChanged)
	if !reflect.DeepEqual(oc.Paths, []string{"data.token"}) || oc.Attribution[0].Manager != "kubectl-edit" {
		t.Fatalf("secret edit: paths %q attribution %+v", oc.Paths, oc.Attribution)
	}
	if err := secrets.Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, 30*time.Second, "secret deleted", isChange("Secret", ns, "db", events.ChangeDeleted))

	forms := []string{canary}
	for _, v := range []string{canary + "-0", canary + "-1"} {
		forms = append(forms, base64.StdEncoding.EncodeToString([]byte(v)), base64.RawStdEncoding.EncodeToString([]byte(v)))
	}
	leaks := func(where string, b []byte) {
		for _, f := range forms {
			if strings.Contains(string(b), f) {
				t.Errorf("%s holds the secret value (%q)", where, f)
			}
		}
	}
	all := s.all()
	if len(all) < 4 {
		t.Fatalf("only %d messages in the stream", len(all))
	}
	for _, r := range all {
		leaks(fmt.Sprintf("stream message #%d", r.Seq), r.Raw)
	}
	for _, b := range []struct {
		name string
		kv   jetstream.KeyValue
	}{{"inventory", env.Buckets.Inventory}, {"state", env.Buckets.State}, {"leases", env.Buckets.Leases}, {"findings", env.Buckets.Findings}} {
		for k, v := range kvContents(t, b.kv) {
			leaks("kv "+b.name+" "+k, v)
		}
	}
}
