package tfkube

import (
	"testing"

	"github.com/driftgate/driftgate/pkg/config"
)

func TestIgnoreReason(t *testing.T) {
	deploy := Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web", Resource: "deployments.apps"}
	cm := Object{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "c", Resource: "configmaps"}
	rules := []config.IgnoreRule{
		{Resource: "deployments.apps", Paths: []string{"spec.replicas"}, Managers: []string{"kubectl-scale"}},
		{Paths: []string{"metadata.annotations"}},
	}
	tests := []struct {
		name    string
		obj     Object
		field   string
		manager string
		set     bool
		want    string
	}{
		{"rule: resource, path and manager", deploy, "spec.replicas", "KUBECTL-SCALE", false, ReasonIgnoreRule},
		{"rule: another manager", deploy, "spec.replicas", "kubectl-edit", false, ""},
		{"rule: another kind", cm, "spec.replicas", "kubectl-scale", false, ""},
		{"rule: any kind, a parent path", cm, "metadata.annotations.note", "kubectl-edit", false, ReasonIgnoreRule},
		{"rule: list selectors ignored", deploy, "metadata.annotations[\"a[0]\"]", "", false, ReasonIgnoreRule},
		{"a controller owns a field the config does not set", deploy, "spec.template.spec.containers[name=web].image", "my-operator", false, "owned by my-operator"},
		{"a controller took a field the config sets", deploy, "spec.template.spec.containers[name=web].image", "my-operator", true, ""},
		{"a rule still covers a field the config sets", deploy, "spec.replicas", "kubectl-scale", true, ReasonIgnoreRule},
		{"a person owns it", deploy, "spec.template.spec.containers[name=web].image", "kubectl-edit", false, ""},
		{"nobody owns it", deploy, "spec.paused", "", false, ""},
	}
	for _, tt := range tests {
		if got := IgnoreReason(rules, tt.obj, tt.field, tt.manager, tt.set); got != tt.want {
			t.Errorf("%s: IgnoreReason = %q, want %q", tt.name, got, tt.want)
		}
	}
}
