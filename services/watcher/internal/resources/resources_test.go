package resources

import (
	"errors"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/pkg/config"
)

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.File
		want []string
	}{
		{"empty is the default", config.File{}, Default},
		{"explicit, deduplicated", config.File{Watch: config.Watch{Resources: []string{"configmaps", "deployments.apps", "configmaps"}}}, []string{"configmaps", "deployments.apps"}},
		{"auto is namespaces and the workspaces' kinds", config.File{
			Watch: config.Watch{Resources: []string{"auto"}},
			Workspaces: []config.Workspace{
				{Kinds: []string{"statefulsets.apps", "configmaps"}, HighRiskKinds: []string{"clusters.postgresql.cnpg.io"}},
				{Kinds: []string{"configmaps", "namespaces"}},
			},
		}, []string{"namespaces", "statefulsets.apps", "configmaps", "clusters.postgresql.cnpg.io"}},
	}
	for _, tt := range tests {
		if got := Names(&tt.cfg); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, meta.RESTScopeNamespace)
	res, errs := Resolve(m, []string{"deployments.apps", "deployments.v1.apps", "configmaps", "namespaces", "secret", "clusters.postgresql.cnpg.io"})
	var got []string
	for _, r := range res {
		got = append(got, r.Name+"/"+r.Kind+"/"+r.GVR.Version)
	}
	want := []string{"configmaps/ConfigMap/v1", "deployments.apps/Deployment/v1", "namespaces/Namespace/v1", "secrets/Secret/v1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resolved %q, want %q", got, want)
	}
	for _, r := range res {
		if r.Namespaced == (r.Name == "namespaces") {
			t.Errorf("%s namespaced = %v", r.Name, r.Namespaced)
		}
		if r.Secret() != (r.Name == "secrets") {
			t.Errorf("%s secret = %v", r.Name, r.Secret())
		}
	}
	var ns *NotServedError
	if len(errs) != 1 || !errors.As(errs["clusters.postgresql.cnpg.io"], &ns) || !meta.IsNoMatchError(errors.Unwrap(ns)) {
		t.Fatalf("errors = %v", errs)
	}
}
