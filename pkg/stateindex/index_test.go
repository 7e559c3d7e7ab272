package stateindex

import (
	"testing"

	"github.com/driftgate/driftgate/pkg/events"
)

const state = `{
  "version": 4, "terraform_version": "1.10.10", "serial": 7, "lineage": "l-1",
  "resources": [
    {"mode": "managed", "type": "kubernetes_namespace", "name": "shop", "provider": "provider[\"registry.opentofu.org/hashicorp/kubernetes\"]",
     "instances": [{"schema_version": 0, "attributes": {"id": "shop", "metadata": [{"name": "shop", "uid": "u-ns"}]}}]},
    {"mode": "managed", "type": "kubernetes_deployment", "name": "web", "module": "module.app",
     "instances": [{"index_key": "blue", "attributes": {"id": "shop/web-blue", "metadata": [{"name": "web-blue", "namespace": "shop", "uid": "u-d"}]}},
                   {"index_key": "green", "attributes": {"id": "shop/web-green", "metadata": [{"name": "web-green", "namespace": "shop"}]}}]},
    {"mode": "managed", "type": "kubectl_manifest", "name": "pg",
     "instances": [{"index_key": 0, "attributes": {"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "uid": "u-pg", "yaml_body": "x"}}]},
    {"mode": "managed", "type": "kubernetes_ingress", "name": "web",
     "instances": [{"attributes": {"metadata": [{"name": "web", "namespace": "shop"}]}}]},
    {"mode": "data", "type": "kubernetes_namespace", "name": "d", "instances": [{"attributes": {"metadata": [{"name": "kube-system"}]}}]},
    {"mode": "managed", "type": "random_id", "name": "r", "instances": [{"attributes": {"id": "x"}}]}
  ]
}`

func TestParse(t *testing.T) {
	ix, err := Parse([]byte(state))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Serial != 7 || ix.Lineage != "l-1" || ix.Resources != 6 || ix.Len() != 5 {
		t.Fatalf("serial %d lineage %s resources %d len %d", ix.Serial, ix.Lineage, ix.Resources, ix.Len())
	}
	tests := []struct {
		obj      events.ObjectRef
		addr     string
		importID string
	}{
		{events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "Namespace", Name: "shop"}, "kubernetes_namespace.shop", "shop"},
		{events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web-blue"}, `module.app.kubernetes_deployment.web["blue"]`, "shop/web-blue"},
		{events.ObjectRef{Cluster: "lab", Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: "db", Name: "pg"}, "kubectl_manifest.pg[0]", "postgresql.cnpg.io/v1//Cluster//pg//db"},
		// The provider reads Ingresses through extensions/v1beta1; the
		// watcher sees networking.k8s.io/v1: the same object.
		{events.ObjectRef{Cluster: "lab", Group: "networking.k8s.io", Version: "v1", Kind: "Ingress", Namespace: "shop", Name: "web"}, "kubernetes_ingress.web", "shop/web"},
	}
	for _, tt := range tests {
		got := ix.Lookup(tt.obj)
		if len(got) != 1 || got[0].Address != tt.addr || got[0].ImportID != tt.importID {
			t.Errorf("Lookup(%s) = %+v, want %s (%s)", tt.obj, got, tt.addr, tt.importID)
			continue
		}
		e, ok := ix.ByAddress(tt.addr)
		if !ok || e.Object.Name != tt.obj.Name {
			t.Errorf("ByAddress(%s) = %+v", tt.addr, e)
		}
	}
	if ix.Manages(events.ObjectRef{Version: "v1", Kind: "Namespace", Name: "kube-system"}) {
		t.Error("data sources are not managed")
	}
}

func TestParseRejectsOldFormat(t *testing.T) {
	if _, err := Parse([]byte(`{"version": 3}`)); err == nil {
		t.Fatal("want an error for state format 3")
	}
}
