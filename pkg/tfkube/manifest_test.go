package tfkube

import "testing"

// TestControlField: one list of kubectl_manifest control fields. The
// planner's copy lacked finalizers, initializers and ownerReferences, the
// importer's lacked selfLink; the list is their union.
func TestControlField(t *testing.T) {
	tests := []struct {
		field string
		want  bool
	}{
		{"status", true},
		{"status.conditions[0].type", true},
		{"status.conditions.#", true},
		{"metadata.finalizers", true},             // was the importer's only
		{"metadata.finalizers.0", true},           // was the importer's only
		{"metadata.ownerReferences[0].uid", true}, // was the importer's only
		{"metadata.initializers", true},           // was the importer's only
		{"metadata.selfLink", true},               // was the planner's only
		{"metadata.uid", true},
		{"metadata.resourceVersion", true},
		{"metadata.generation", true},
		{"metadata.creationTimestamp", true},
		{"metadata.managedFields", true},
		{"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration", true},
		{"metadata.annotations.team", false},
		{"metadata.labels.app", false},
		{"metadata.name", false},
		{"spec.replicas", false},
		{"spec.status", false},
	}
	for _, tt := range tests {
		if got := ControlField(tt.field); got != tt.want {
			t.Errorf("ControlField(%q) = %v, want %v", tt.field, got, tt.want)
		}
	}
}
