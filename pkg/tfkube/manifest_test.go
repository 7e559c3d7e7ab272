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

// TestDriftFields reads the drift attribute of alekc/kubectl (a YAML tree
// of the drifted paths, leaves masked, list elements marked _index_).
func TestDriftFields(t *testing.T) {
	drift := `metadata:
  labels:
    team: <drift>
spec:
  replicas: <drift>
  template:
    spec:
      containers:
      - _index_: 1
        image: <drift>
      - _index_: 2
        _missing_: absent on cluster
`
	got := DriftFields(drift)
	want := []string{"metadata.labels.team", "spec.replicas", "spec.template.spec.containers[1].image", "spec.template.spec.containers[2]"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if DriftFields("") != nil || DriftFields("[unclosed") != nil || DriftFields("just text") != nil {
		t.Fatal("empty or broken drift named fields")
	}
}
