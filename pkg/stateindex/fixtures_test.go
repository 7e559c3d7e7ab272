package stateindex

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/driftgate/driftgate/pkg/events"
)

// TestParseProvider321 indexes the recorded `show -json` state of every
// scenario of the hashicorp/kubernetes 3.2.1 fixtures: _v1 types,
// kubernetes_manifest, the deprecated unversioned name and the patch-style
// types are all indexed.
func TestParseProvider321(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/kubernetes-3.2.1/scenarios/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	want := map[string][2]int{ // resources, objects
		"01-already-exists":           {16, 14},
		"90-patch-same-field-manager": {21, 19},
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			ix, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[name]
			if !ok {
				w = [2]int{21, 19}
			}
			if ix.Resources != w[0] || ix.Len() != w[0] || ix.Objects() != w[1] {
				t.Fatalf("resources %d, entries %d, objects %d; want %d, %d, %d", ix.Resources, ix.Len(), ix.Objects(), w[0], w[0], w[1])
			}
			if name == "01-already-exists" {
				return
			}
			cluster := events.ObjectRef{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: "pal-e-app", Name: "pal-e-db"}
			if es := ix.Lookup(cluster); len(es) != 1 || es[0].Address != "kubernetes_manifest.cnpg_cluster" ||
				es[0].ImportID != "apiVersion=postgresql.cnpg.io/v1,kind=Cluster,namespace=pal-e-app,name=pal-e-db" {
				t.Fatalf("CNPG Cluster: %+v", es)
			}
			ing := events.ObjectRef{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress", Namespace: "pal-e-docs", Name: "funnel"}
			if es := ix.Lookup(ing); len(es) != 1 || es[0].Address != `kubernetes_ingress_v1.service_funnel["pal-e-docs"]` || es[0].ImportID != "pal-e-docs/funnel" {
				t.Fatalf("Ingress: %+v", es)
			}
			worker := events.ObjectRef{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "pal-e-app", Name: "pal-e-worker"}
			es := ix.Lookup(worker)
			if len(es) != 3 {
				t.Fatalf("worker Deployment: %d entries, want labels, annotations, env", len(es))
			}
			for _, e := range es {
				if !e.Partial || e.ImportID != "" || e.FieldManager == "" {
					t.Fatalf("patch entry %+v", e)
				}
			}
			flags := events.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "pal-e-app", Name: "pal-e-flags"}
			if es := ix.Lookup(flags); len(es) != 1 || !es[0].Partial || es[0].FieldManager != "Terraform" || !ix.Manages(flags) {
				t.Fatalf("config_map_v1_data: %+v", es)
			}
			ns := events.ObjectRef{Version: "v1", Kind: "Namespace", Name: "pal-e-app"}
			if es := ix.Lookup(ns); len(es) != 1 || es[0].ImportID != "pal-e-app" {
				t.Fatalf("namespace: %+v", es)
			}
		})
	}
}

// TestParseRawManifest: raw state (format 4) stores kubernetes_manifest's
// dynamic-typed manifest and object as {"value", "type"}.
func TestParseRawManifest(t *testing.T) {
	raw := `{"version": 4, "serial": 3, "lineage": "l", "resources": [
	  {"mode": "managed", "type": "kubernetes_manifest", "name": "db", "instances": [{"attributes": {
	    "manifest": {"value": {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "db", "namespace": "data"}},
	                 "type": ["object", {"apiVersion": "string", "kind": "string", "metadata": ["object", {"name": "string", "namespace": "string"}]}]},
	    "object": {"value": {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster", "metadata": {"name": "db", "namespace": "data", "uid": null}},
	               "type": ["object", {"apiVersion": "string", "kind": "string", "metadata": ["object", {"name": "string", "namespace": "string", "uid": "string"}]}]}}}]},
	  {"mode": "managed", "type": "kubernetes_labels", "name": "l", "instances": [{"attributes": {
	    "api_version": "apps/v1", "kind": "Deployment", "metadata": [{"name": "w", "namespace": "data"}], "labels": {"team": "x"}, "field_manager": "terraform-labels"}}]}]}`
	ix, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 2 || ix.Objects() != 2 {
		t.Fatalf("entries %d objects %d", ix.Len(), ix.Objects())
	}
	e, ok := ix.ByAddress("kubernetes_manifest.db")
	if !ok || e.Object.Kind != "Cluster" || e.Object.Namespace != "data" || e.ImportID != "apiVersion=postgresql.cnpg.io/v1,kind=Cluster,namespace=data,name=db" {
		t.Fatalf("manifest entry %+v", e)
	}
	l, ok := ix.ByAddress("kubernetes_labels.l")
	if !ok || !l.Partial || l.FieldManager != "terraform-labels" || l.Object.Kind != "Deployment" {
		t.Fatalf("labels entry %+v", l)
	}
}
