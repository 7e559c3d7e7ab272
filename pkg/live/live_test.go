package live

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
		"metadata.labels.app": "HashiCorp",
		"spec.replicas":       "kubectl-patch",
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
