package tfkube

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
)

func TestFromFieldsV1(t *testing.T) {
	raw := []byte(`{
	  "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {".": {}, "v:\"example.com/x\"": {}}},
	  "f:spec": {
	    "f:replicas": {},
	    "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
	    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}
	  }
	}`)
	o, err := FromFieldsV1(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"metadata.finalizers",
		"metadata.labels",
		"metadata.labels.app",
		"spec.ports[port=80,protocol=TCP]",
		"spec.ports[port=80,protocol=TCP].port",
		"spec.ports[port=80,protocol=TCP].targetPort",
		"spec.replicas",
		"spec.template.spec.containers[name=web]",
		"spec.template.spec.containers[name=web].image",
		"spec.template.spec.containers[name=web].name",
	}
	if !reflect.DeepEqual(o.Paths, want) {
		t.Errorf("paths:\n got %q\nwant %q", o.Paths, want)
	}
	if got := o.ListKeys["spec.ports"]; !reflect.DeepEqual(got, []string{"port", "protocol"}) {
		t.Errorf("list keys of spec.ports = %q", got)
	}
	if got := o.ListKeys["spec.template.spec.containers"]; !reflect.DeepEqual(got, []string{"name"}) {
		t.Errorf("list keys of containers = %q", got)
	}
	if _, err := FromFieldsV1([]byte(`{"f:spec": [`)); err == nil {
		t.Error("broken fieldsV1 parsed without error")
	}
}

// TestFieldOwners was pkg/live's. Its owners now list every owned path, as
// the watcher's inventory does: the owned label map and the owned container
// element are owned too (pkg/live listed only leaves).
func TestFieldOwners(t *testing.T) {
	t1 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t2 := metav1.NewTime(t1.Add(time.Minute))
	mfs := []metav1.ManagedFieldsEntry{
		{Manager: "HashiCorp", Operation: metav1.ManagedFieldsOperationUpdate, Time: &t1, FieldsV1: &metav1.FieldsV1{Raw: []byte(
			`{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}`)}},
		{Manager: "kubectl-patch", Operation: metav1.ManagedFieldsOperationUpdate, Time: &t2, FieldsV1: &metav1.FieldsV1{Raw: []byte(
			`{"f:spec":{"f:replicas":{}}}`)}},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: &t2, FieldsV1: &metav1.FieldsV1{Raw: []byte(
			`{"f:status":{"f:replicas":{}}}`)}},
	}
	got := FieldOwners(mfs)
	want := map[string]string{
		"metadata.labels":                               "HashiCorp",
		"metadata.labels.app":                           "HashiCorp",
		"spec.replicas":                                 "kubectl-patch",
		"spec.template.spec.containers[name=web]":       "HashiCorp",
		"spec.template.spec.containers[name=web].image": "HashiCorp",
		"spec.template.spec.containers[name=web].name":  "HashiCorp",
	}
	gotM := map[string]string{}
	for p, a := range got {
		gotM[p] = a.Manager
	}
	if !reflect.DeepEqual(gotM, want) {
		t.Fatalf("got %v\nwant %v", gotM, want)
	}
}

func at(manager, op string, t *time.Time) events.Attribution {
	return events.Attribution{Manager: manager, Operation: op, Time: t}
}

// TestClaimsFirst is the one tie-break between managers that own the same
// field. Before it, pkg/live let the later managedFields entry win a tie in
// time, the watcher the earlier one, and the importer the last entry
// whatever its time.
func TestClaimsFirst(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Second)
	tests := []struct {
		name string
		a, b events.Attribution
		want bool // a owns the field, not b
	}{
		{"later write wins", at("zeta", "Update", &t2), at("alpha", "Apply", &t1), true},
		{"earlier write loses", at("alpha", "Apply", &t1), at("zeta", "Update", &t2), false},
		{"no time is the oldest", at("alpha", "Apply", nil), at("zeta", "Update", &t1), false},
		{"same time: Apply over Update", at("zeta", "Apply", &t1), at("alpha", "Update", &t1), true},
		{"same time and operation: name order", at("alpha", "Update", &t1), at("zeta", "Update", &t1), true},
		{"same time and operation: name order, reversed", at("zeta", "Update", &t1), at("alpha", "Update", &t1), false},
	}
	for _, tt := range tests {
		if got := ClaimsFirst(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: ClaimsFirst = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestFieldOwnersTie: two entries own spec.replicas, written in the same
// second. Apply wins over Update, whichever entry comes first.
func TestFieldOwnersTie(t *testing.T) {
	t1 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	replicas := &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}
	apply := metav1.ManagedFieldsEntry{Manager: "ci", Operation: metav1.ManagedFieldsOperationApply, Time: &t1, FieldsV1: replicas}
	update := metav1.ManagedFieldsEntry{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationUpdate, Time: &t1, FieldsV1: replicas}
	for _, mfs := range [][]metav1.ManagedFieldsEntry{{apply, update}, {update, apply}} {
		if got := FieldOwners(mfs)["spec.replicas"].Manager; got != "ci" {
			t.Errorf("entries %s, %s: owner %q, want ci", mfs[0].Manager, mfs[1].Manager, got)
		}
	}
}

// TestOwnerOf: the owner of a field is its own owner, else the deepest
// owned path above or below it (list selectors ignored), ties broken by
// ClaimsFirst. The planner's classifier broke a tie between equally deep
// owners by map order (at random) and the importer by name order; the
// "disagreed" case is one where the importer named istio-operator (a
// controller: ignored) and the planner either.
func TestOwnerOf(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	owners := map[string]events.Attribution{
		"spec.replicas":   at("horizontal-pod-autoscaler", "Update", &t2),
		"metadata.labels": at("HashiCorp", "Update", &t1),
		"spec.template.spec.containers[name=web].image":   at("kubectl-edit", "Update", &t2),
		"spec.template.spec.containers[name=istio].image": at("istio-operator", "Update", &t1),
		"spec.template.spec.containers[name=web].env":     at("HashiCorp", "Update", &t1),
	}
	tests := []struct {
		field, want string
	}{
		{"spec.replicas", "horizontal-pod-autoscaler"},
		{"metadata.labels.team", "HashiCorp"}, // the owned parent
		{"spec.template.spec.containers[name=web].image", "kubectl-edit"},
		{"spec.template.spec.containers[0].image", "kubectl-edit"}, // disagreed: the latest of two equally deep owners
		{"spec.template.spec.containers[0].env[0].value", "HashiCorp"},
		{"spec.template", "kubectl-edit"}, // owned below: the deepest, then the latest
		{"spec.paused", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := OwnerOf(tt.field, owners).Manager; got != tt.want {
			t.Errorf("OwnerOf(%q) = %q, want %q", tt.field, got, tt.want)
		}
	}
}

func TestIsController(t *testing.T) {
	for m, want := range map[string]bool{
		"horizontal-pod-autoscaler": true, "kube-controller-manager": true, "argocd-controller": true,
		"cnpg": true, "my-operator": true, "Manager": true,
		"kubectl-edit": false, "kubectl-client-side-apply": false, "helm": false, "HashiCorp": false, "": false,
	} {
		if got := IsController(m); got != want {
			t.Errorf("IsController(%q) = %v, want %v", m, got, want)
		}
	}
}
