package live

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/events"
)

func object(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil { // numbers as int64, as from the API server
		t.Fatal(err)
	}
	return u
}

// The watcher, the gate and bootstrap read owner hints through OwnerHints;
// where their copies disagreed, the watcher's rule (what users see in
// alerts) was kept: the rows marked "was" say what the other copy did.
func TestOwnerHints(t *testing.T) {
	tests := []struct {
		name, meta string
		want       events.OwnerHints
	}{
		{"none", `{name: a}`, events.OwnerHints{}},
		{"helm annotations", `{name: a, labels: {app.kubernetes.io/managed-by: Helm}, annotations: {meta.helm.sh/release-name: rel, meta.helm.sh/release-namespace: shop}}`,
			events.OwnerHints{Helm: &events.HelmRelease{Release: "rel", Namespace: "shop"}}},
		{"helm annotation without the label", `{name: a, annotations: {meta.helm.sh/release-name: rel}}`,
			events.OwnerHints{Helm: &events.HelmRelease{Release: "rel"}}},
		// was (bootstrap): a Helm release with no name.
		{"helm label alone: release from the instance label", `{name: a, labels: {app.kubernetes.io/managed-by: Helm, app.kubernetes.io/instance: rel}}`,
			events.OwnerHints{Helm: &events.HelmRelease{Release: "rel"}}},
		// was (bootstrap): matched case-insensitively. Helm writes "Helm".
		{"managed-by is matched exactly", `{name: a, labels: {app.kubernetes.io/managed-by: helm}}`, events.OwnerHints{}},
		{"managed-by another tool", `{name: a, labels: {app.kubernetes.io/managed-by: kustomize}}`, events.OwnerHints{}},
		{"argo tracking id", `{name: a, annotations: {argocd.argoproj.io/tracking-id: "shop-app:/ConfigMap:shop/a"}}`,
			events.OwnerHints{ArgoCD: "shop-app"}},
		{"argo instance label", `{name: a, labels: {argocd.argoproj.io/instance: shop-app}}`, events.OwnerHints{ArgoCD: "shop-app"}},
		// was (bootstrap): the instance label won.
		{"tracking id wins over the instance label", `{name: a, labels: {argocd.argoproj.io/instance: old}, annotations: {argocd.argoproj.io/tracking-id: "new:/ConfigMap:shop/a"}}`,
			events.OwnerHints{ArgoCD: "new"}},
		// was (gate and bootstrap): never read.
		{"app instance label alone is not argo", `{name: a, labels: {app.kubernetes.io/instance: x}}`, events.OwnerHints{}},
		{"app instance label with an argo manager", `{name: a, labels: {app.kubernetes.io/instance: x}, managedFields: [{manager: argocd-controller, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {}}]}`,
			events.OwnerHints{ArgoCD: "x"}},
		{"helm and argo together", `{name: a, labels: {app.kubernetes.io/managed-by: Helm}, annotations: {meta.helm.sh/release-name: rel, argocd.argoproj.io/tracking-id: "app:/ConfigMap:shop/a"}}`,
			events.OwnerHints{Helm: &events.HelmRelease{Release: "rel"}, ArgoCD: "app"}},
		{"owner references", `{name: a, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: rs, uid: u1, controller: true}, {apiVersion: v1, kind: ConfigMap, name: c, uid: u2}]}`,
			events.OwnerHints{OwnerReferences: []events.OwnerReference{
				{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1", Controller: true},
				{APIVersion: "v1", Kind: "ConfigMap", Name: "c", UID: "u2"},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := object(t, "{apiVersion: v1, kind: ConfigMap, metadata: "+tt.meta+"}")
			rec := ObjectRecord("c1", "configmaps", u, time.Now())
			if !reflect.DeepEqual(rec.Owners, tt.want) {
				t.Fatalf("owners = %+v, want %+v", rec.Owners, tt.want)
			}
		})
	}
}

func TestObjectRecord(t *testing.T) {
	u := object(t, `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: u-1
  resourceVersion: "42"
  generation: 3
  labels: {app: web}
  managedFields:
  - {manager: HashiCorp, operation: Update, time: "2026-01-01T00:00:00Z", apiVersion: apps/v1, fieldsType: FieldsV1, fieldsV1: {"f:spec": {"f:replicas": {}}}}
`)
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	got := ObjectRecord("c1", "deployments.apps", u, now)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := &events.InventoryRecord{
		Object:   events.ObjectRef{Cluster: "c1", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web", UID: "u-1"},
		Resource: "deployments.apps", ResourceVersion: "42", Generation: 3,
		Managers:    []events.PathOwner{{Attribution: events.Attribution{Manager: "HashiCorp", Operation: "Update", Time: &t0}}},
		FieldOwners: map[string]events.Attribution{"spec.replicas": {Manager: "HashiCorp", Operation: "Update", Time: &t0}},
		Labels:      map[string]string{"app": "web"},
		UpdatedAt:   now,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if Managers([]metav1.ManagedFieldsEntry{}) != nil {
		t.Error("no managers: want nil")
	}
}
