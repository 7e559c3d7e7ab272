package execute

import (
	"reflect"
	"testing"

	"github.com/driftgate/driftgate/services/importer/internal/statefile"
)

// TestRawValues: kubernetes_manifest's manifest is written into raw state
// as a dynamic value, {"value", "type"}, the type that of the configuration
// literal; other attributes as they are.
func TestRawValues(t *testing.T) {
	manifest := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "c"}, "data": map[string]any{"a": "b"}, "items": []any{1.0, true}}
	got := rawValues("kubernetes_manifest.c", map[string]any{"manifest": manifest, "wait": nil})
	want := map[string]any{"value": manifest, "type": []any{"object", map[string]any{
		"apiVersion": "string", "kind": "string", "metadata": []any{"object", map[string]any{"name": "string"}},
		"data": []any{"object", map[string]any{"a": "string"}}, "items": []any{"tuple", []any{"number", "bool"}}}}}
	if !reflect.DeepEqual(got["manifest"], want) || got["wait"] != nil {
		t.Fatalf("got %#v", got)
	}
	if v := rawValues(`kubernetes_secret_v1.s["a"]`, map[string]any{"wait_for_service_account_token": true}); v["wait_for_service_account_token"] != true {
		t.Fatalf("typed attribute changed: %#v", v)
	}
	body := []byte(`{"version":4,"serial":1,"lineage":"l","resources":[{"mode":"managed","type":"kubernetes_manifest","name":"c",
		"provider":"provider[\"registry.opentofu.org/hashicorp/kubernetes\"]","instances":[{"schema_version":1,"attributes":{"manifest":null,"object":null}}]}]}`)
	out, err := statefile.SetAttributes(body, "kubernetes_manifest.c", got)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := statefile.Attributes(out, "kubernetes_manifest.c")
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := attrs["manifest"].(map[string]any); m == nil || m["type"] == nil || m["value"] == nil {
		t.Fatalf("manifest in state: %#v", attrs["manifest"])
	}
}
