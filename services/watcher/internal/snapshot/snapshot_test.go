package snapshot

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/live"
)

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 11111111-2222-3333-4444-555555555555
  resourceVersion: "100"
  generation: 1
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: {app: web, app.kubernetes.io/name: web}
  annotations: {deployment.kubernetes.io/revision: "1"}
  managedFields:
  - manager: terraform
    operation: Update
    apiVersion: apps/v1
    time: "2026-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {.: {}, f:app: {}, f:app.kubernetes.io/name: {}}}
      f:spec:
        f:replicas: {}
        f:template:
          f:spec:
            f:containers:
              k:{"name":"web"}: {.: {}, f:image: {}, f:name: {}}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: web, image: "nginx:1.27", imagePullPolicy: IfNotPresent}
status:
  replicas: 2
  readyReplicas: 0
`

func parse(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func build(t *testing.T, b *Builder, u *unstructured.Unstructured, secret bool) *Snapshot {
	t.Helper()
	s, err := b.Build(u, secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// edit returns a copy of base with f applied and a new resourceVersion.
func edit(base *unstructured.Unstructured, f func(o map[string]any)) *unstructured.Unstructured {
	c := base.DeepCopy()
	f(c.Object)
	c.SetResourceVersion("101")
	return c
}

func addManager(o map[string]any, manager, op, tm string, fields map[string]any) {
	md := o["metadata"].(map[string]any)
	mfs, _ := md["managedFields"].([]any)
	md["managedFields"] = append(mfs, map[string]any{
		"manager": manager, "operation": op, "apiVersion": "apps/v1", "time": tm,
		"fieldsType": "FieldsV1", "fieldsV1": fields,
	})
}

func TestChangedPathsAndAttribution(t *testing.T) {
	b := NewBuilder(false)
	base := parse(t, deployment)
	tests := []struct {
		name      string
		edit      func(o map[string]any)
		wantPaths []string
		wantOwner string // manager of the first path
	}{
		{
			name: "scale",
			edit: func(o map[string]any) {
				o["spec"].(map[string]any)["replicas"] = int64(5)
				addManager(o, "kubectl-scale", "Update", "2026-01-02T00:00:00Z", map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}})
				md := o["metadata"].(map[string]any)
				tf := md["managedFields"].([]any)[0].(map[string]any)
				delete(tf["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:replicas")
			},
			wantPaths: []string{"spec.replicas"},
			wantOwner: "kubectl-scale",
		},
		{
			name: "patch image",
			edit: func(o map[string]any) {
				c := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				c["image"] = "nginx:1.28"
				addManager(o, "kubectl-patch", "Update", "2026-01-02T00:00:00Z", map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{`k:{"name":"web"}`: map[string]any{"f:image": map[string]any{}}}}}}})
			},
			wantPaths: []string{"spec.template.spec.containers[name=web].image"},
			wantOwner: "kubectl-patch",
		},
		{
			name: "label added",
			edit: func(o map[string]any) {
				o["metadata"].(map[string]any)["labels"].(map[string]any)["tier"] = "front"
				addManager(o, "kubectl-label", "Update", "2026-01-02T00:00:00Z", map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{"f:tier": map[string]any{}}}})
			},
			wantPaths: []string{"metadata.labels.tier"},
			wantOwner: "kubectl-label",
		},
		{
			name: "label removed",
			edit: func(o map[string]any) {
				delete(o["metadata"].(map[string]any)["labels"].(map[string]any), "app.kubernetes.io/name")
				// The API server drops a removed field from every manager's set.
				tf := o["metadata"].(map[string]any)["managedFields"].([]any)[0].(map[string]any)
				delete(tf["fieldsV1"].(map[string]any)["f:metadata"].(map[string]any)["f:labels"].(map[string]any), "f:app.kubernetes.io/name")
				addManager(o, "kubectl-label", "Update", "2026-01-03T00:00:00Z", map[string]any{"f:metadata": map[string]any{}})
			},
			wantPaths: []string{"metadata.labels.app.kubernetes.io/name"},
			wantOwner: "kubectl-label", // nobody owns it any more: the latest writer
		},
		{
			name: "container added is one path",
			edit: func(o map[string]any) {
				ps := o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
				ps["containers"] = append(ps["containers"].([]any), map[string]any{"name": "sidecar", "image": "busybox", "args": []any{"sleep", "1d"}})
				addManager(o, "kubectl-edit", "Update", "2026-01-02T00:00:00Z", map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{`k:{"name":"sidecar"}`: map[string]any{".": map[string]any{}, "f:image": map[string]any{}, "f:name": map[string]any{}, "f:args": map[string]any{}}}}}}})
			},
			wantPaths: []string{"spec.template.spec.containers[name=sidecar]"},
			wantOwner: "kubectl-edit",
		},
		{
			name: "status, resourceVersion and managedFields times only",
			edit: func(o map[string]any) {
				o["status"].(map[string]any)["readyReplicas"] = int64(2)
				md := o["metadata"].(map[string]any)
				md["managedFields"].([]any)[0].(map[string]any)["time"] = "2026-02-02T00:00:00Z"
				md["generation"] = int64(7)
			},
			wantPaths: nil,
		},
		{
			name: "annotation with dots",
			edit: func(o map[string]any) {
				o["metadata"].(map[string]any)["annotations"].(map[string]any)["deployment.kubernetes.io/revision"] = "2"
			},
			wantPaths: []string{"metadata.annotations.deployment.kubernetes.io/revision"},
			wantOwner: "terraform", // unowned: the latest writer
		},
		{
			name:      "int and float are one value",
			edit:      func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = float64(2) },
			wantPaths: nil,
		},
	}
	old := build(t, b, base, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cur := build(t, b, edit(base, tt.edit), false)
			got := Changed(old, cur, nil)
			if !reflect.DeepEqual(got, tt.wantPaths) {
				t.Fatalf("paths = %q, want %q", got, tt.wantPaths)
			}
			if len(got) == 0 {
				return
			}
			attr := cur.Attribution(got)
			if len(attr) == 0 || attr[0].Manager != tt.wantOwner || attr[0].Path != got[0] {
				t.Fatalf("attribution = %+v, want %s for %s", attr, tt.wantOwner, got[0])
			}
			if attr[0].Time == nil || attr[0].Operation != "Update" {
				t.Fatalf("attribution lacks operation or time: %+v", attr[0])
			}
		})
	}
}

func TestIncludeStatus(t *testing.T) {
	b := NewBuilder(true)
	base := parse(t, deployment)
	old := build(t, b, base, false)
	cur := build(t, b, edit(base, func(o map[string]any) { o["status"].(map[string]any)["readyReplicas"] = int64(2) }), false)
	if got := Changed(old, cur, nil); !reflect.DeepEqual(got, []string{"status.readyReplicas"}) {
		t.Fatalf("paths = %q", got)
	}
}

func TestFieldOwnersAndManagers(t *testing.T) {
	s := build(t, NewBuilder(false), parse(t, deployment), false)
	fo := s.FieldOwners()
	for _, p := range []string{"spec.replicas", "metadata.labels.app", "metadata.labels.app.kubernetes.io/name", "spec.template.spec.containers[name=web].image"} {
		if fo[p].Manager != "terraform" {
			t.Errorf("FieldOwners[%s] = %+v", p, fo[p])
		}
	}
	ms := s.ManagerList()
	if len(ms) != 1 || ms[0].Manager != "terraform" || ms[0].Path != "" || ms[0].Time == nil || !ms[0].Time.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("managers = %+v", ms)
	}
}

func TestListWithoutKeysByIndexAndMaxPaths(t *testing.T) {
	b := NewBuilder(false)
	u := parse(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d, resourceVersion: "1"}, spec: {rules: [{host: a}, {host: b}]}, data: {}}`)
	old := build(t, b, u, false)
	cur := build(t, b, edit(u, func(o map[string]any) {
		o["spec"].(map[string]any)["rules"].([]any)[1].(map[string]any)["host"] = "c"
	}), false)
	if got := Changed(old, cur, nil); !reflect.DeepEqual(got, []string{"spec.rules[1].host"}) {
		t.Fatalf("paths = %q", got)
	}
	big := edit(u, func(o map[string]any) {
		d := o["data"].(map[string]any)
		for i := range MaxPaths + 10 {
			d[strings.Repeat("k", 1+i%7)+string(rune('a'+i%26))+time.Duration(i).String()] = "v"
		}
	})
	if got := Changed(old, build(t, b, big, false), nil); !reflect.DeepEqual(got, []string{"data"}) {
		t.Fatalf("a huge change folds to its top-level fields, got %d paths: %q", len(got), got[:min(len(got), 5)])
	}
}

const canary = "canary-5f1d3c9e-do-not-leak"

func secretYAML(value string) string {
	return `
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  uid: 99999999-2222-3333-4444-555555555555
  resourceVersion: "7"
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"stringData":{"password":"` + value + `"}}'
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: v1
    time: "2026-01-01T00:00:00Z"
    fieldsType: FieldsV1
    fieldsV1: {f:data: {.: {}, f:password: {}, f:user: {}}}
type: Opaque
data: {password: "` + value + `", user: "YWRtaW4="}
`
}

func TestSecretValuesNeverKept(t *testing.T) {
	b := NewBuilder(false)
	old := build(t, b, parse(t, secretYAML(canary)), true)
	enc, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(enc), canary) {
		t.Fatalf("snapshot keeps the secret value: %s", enc)
	}
	for i := range old.NumLeaves() {
		if l := old.Leaf(i); Sensitive(l.Path) != l.Sensitive {
			t.Errorf("leaf %s: sensitive = %v", l.Path, l.Sensitive)
		}
	}
	// The same value hashes differently in another process (another key).
	other := build(t, NewBuilder(false), parse(t, secretYAML(canary)), true)
	if leaf(old, "data.password").Hash == leaf(other, "data.password").Hash {
		t.Error("a secret value hashes the same under two builders: the hash is not keyed")
	}
	// A ConfigMap's value hashes the same everywhere (it is persisted).
	if leaf(old, "type").Hash != leaf(other, "type").Hash {
		t.Error("a plain value hashes differently under two builders")
	}
	cur := build(t, b, parse(t, strings.Replace(secretYAML(canary+"2"), `resourceVersion: "7"`, `resourceVersion: "8"`, 1)), true)
	want := []string{"data.password", "metadata.annotations.kubectl.kubernetes.io/last-applied-configuration"}
	if got := Changed(old, cur, nil); !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q, want %q", got, want)
	}
}

func leaf(s *Snapshot, p string) Leaf {
	for i := range s.NumLeaves() {
		if l := s.Leaf(i); l.Path == p {
			return l
		}
	}
	return Leaf{}
}

func TestUnknownSensitiveValueJudgedByOwnerStamp(t *testing.T) {
	b := NewBuilder(false)
	old := build(t, b, parse(t, secretYAML(canary)), true)
	// As read back from the inventory: sensitive hashes unknown.
	var leaves []Leaf
	stamps := map[string]Stamp{}
	for i := range old.NumLeaves() {
		l := old.Leaf(i)
		if l.Sensitive {
			l.Hash = 0
			stamps[l.Path] = old.stampOf(l.Path)
		}
		leaves = append(leaves, l)
	}
	restored := &Snapshot{}
	restored.SetLeaves(leaves)
	same := build(t, b, parse(t, secretYAML(canary)), true)
	if got := Changed(restored, same, stamps); len(got) != 0 {
		t.Fatalf("unchanged secret reported changed: %q", got)
	}
	rewritten := parse(t, strings.Replace(secretYAML(canary+"x"), `time: "2026-01-01T00:00:00Z"`, `time: "2026-01-05T00:00:00Z"`, 1))
	got := Changed(restored, build(t, b, rewritten, true), stamps)
	if !reflect.DeepEqual(got, []string{"data.password", "data.user"}) {
		t.Fatalf("paths = %q: every key its owner rewrote is reported", got)
	}
}

func TestHints(t *testing.T) {
	tests := []struct {
		name, yaml string
		helm, argo string
		refs       int
	}{
		{"helm", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {app.kubernetes.io/managed-by: Helm, app.kubernetes.io/instance: rel}, annotations: {meta.helm.sh/release-name: rel, meta.helm.sh/release-namespace: shop}}}`, "rel", "", 0},
		{"argo tracking id", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, annotations: {argocd.argoproj.io/tracking-id: "shop-app:/ConfigMap:shop/a"}}}`, "", "shop-app", 0},
		{"instance label alone is not argo", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {app.kubernetes.io/instance: x}}}`, "", "", 0},
		{"instance label with argo manager", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, labels: {app.kubernetes.io/instance: x}, managedFields: [{manager: argocd-controller, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {}}]}}`, "", "x", 0},
		{"owner references", `{apiVersion: v1, kind: Pod, metadata: {name: a, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u1, controller: true}]}}`, "", "", 1},
		{"helm release record", `{apiVersion: v1, kind: Secret, metadata: {name: sh.helm.release.v1.rel.v2, namespace: shop, labels: {owner: helm, name: rel}, annotations: {other: x}}}`, "rel", "", 0},
		{"everything", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: shop, labels: {app.kubernetes.io/instance: x, argocd.argoproj.io/instance: app}, annotations: {meta.helm.sh/release-name: rel, argocd.argoproj.io/tracking-id: "t:/x", kubectl.kubernetes.io/last-applied-configuration: "{}"}, finalizers: [f], ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u1, controller: true}, {apiVersion: v1, kind: ConfigMap, name: o, uid: u2}], managedFields: [{manager: argocd-controller, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {}}]}}`, "rel", "t", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := parse(t, tt.yaml)
			h := build(t, NewBuilder(false), u, u.GetKind() == "Secret").Hints()
			// What the snapshot keeps of the metadata gives the hints the
			// whole object gives.
			argo := false
			for _, m := range u.GetManagedFields() {
				argo = argo || live.IsArgoCDManager(m.Manager)
			}
			if want := live.OwnerHints(u, argo); !reflect.DeepEqual(h, want) {
				t.Fatalf("hints from the snapshot %+v, from the object %+v", h, want)
			}
			gotHelm := ""
			if h.Helm != nil {
				gotHelm = h.Helm.Release
			}
			if gotHelm != tt.helm || h.ArgoCD != tt.argo || len(h.OwnerReferences) != tt.refs {
				t.Fatalf("hints = %+v", h)
			}
			if tt.refs > 0 && (!h.OwnerReferences[0].Controller || h.OwnerReferences[0].Kind != "ReplicaSet") {
				t.Fatalf("owner reference = %+v", h.OwnerReferences[0])
			}
		})
	}
}

func TestTransformIsIdempotent(t *testing.T) {
	tr := NewBuilder(false).Transform(false)
	a, err := tr(parse(t, deployment))
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr(a)
	if err != nil || a != b {
		t.Fatalf("second transform changed the object: %v", err)
	}
	s := a.(*Snapshot)
	if s.Name != "web" || s.Namespace != "shop" || s.ResourceVersion != "100" || s.Kind != "Deployment" {
		t.Fatalf("identity lost: %+v", s.Meta)
	}
	if s.Annotations["deployment.kubernetes.io/revision"] != "" {
		t.Error("annotations other than owner hints are kept")
	}
	c := s.DeepCopyObject().(*Snapshot)
	if !reflect.DeepEqual(c, s) {
		t.Error("DeepCopyObject differs")
	}
}

// Objects with the same fields share their leaf paths and owned paths; only
// the hashes are their own.
func TestSnapshotsShareFieldSets(t *testing.T) {
	b := NewBuilder(false)
	x, err := b.Build(benchConfigMap(1), false)
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.Build(benchConfigMap(2), false)
	if err != nil {
		t.Fatal(err)
	}
	if x.NumLeaves() == 0 || &x.LeafPaths[0] != &y.LeafPaths[0] || len(x.Owned) == 0 || &x.Owned[0] != &y.Owned[0] {
		t.Fatal("two ConfigMaps with the same fields do not share their paths")
	}
	if &x.Hashes[0] == &y.Hashes[0] || reflect.DeepEqual(x.Hashes, y.Hashes) {
		t.Fatal("hashes shared, or equal for different values")
	}
	if got := Changed(x, y, nil); !reflect.DeepEqual(got, []string{"data.endpoint", "metadata.labels.shard"}) {
		t.Fatalf("changed %q", got)
	}
	// A new field: a new path set, the old one untouched.
	u := benchConfigMap(3)
	u.Object["data"].(map[string]any)["extra"] = "1"
	z, err := b.Build(u, false)
	if err != nil {
		t.Fatal(err)
	}
	if z.NumLeaves() != x.NumLeaves()+1 || x.NumLeaves() != y.NumLeaves() {
		t.Fatalf("leaves %d, %d, %d", x.NumLeaves(), y.NumLeaves(), z.NumLeaves())
	}
	if got := Changed(x, z, nil); !slices.Contains(got, "data.extra") {
		t.Fatalf("changed %q", got)
	}
}
