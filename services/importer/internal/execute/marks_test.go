package execute

import (
	"encoding/json"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func TestConfigMarks(t *testing.T) {
	var p tfjson.Plan
	if err := json.Unmarshal([]byte(`{"format_version":"1.2",
	 "variables": {"database_url": {"value": "postgresql://u:pw@db:5432/x"}, "namespace": {"value": "shop"}},
	 "configuration": {"root_module": {"variables": {"database_url": {"sensitive": true}, "namespace": {}}}},
	 "resource_changes": [{"address": "kubernetes_secret.s", "mode": "managed", "type": "kubernetes_secret", "name": "s",
	   "change": {"actions": ["update"], "before": {}, "after": {
	     "metadata": [{"name": "s", "namespace": "shop", "labels": {"a": "b"}}],
	     "data": {"DATABASE_URL": "postgresql://u:pw@db:5432/x", "DSN": "jdbc:postgresql://u:pw@db:5432/x?ssl=1", "other": "x"}}}}]}`), &p); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(configMarks(&p, "kubernetes_secret.s"))
	want := `[[{"type":"get_attr","value":"data"},{"type":"index","value":{"type":"string","value":"DATABASE_URL"}}],` +
		`[{"type":"get_attr","value":"data"},{"type":"index","value":{"type":"string","value":"DSN"}}]]`
	if string(got) != want {
		t.Errorf("marks\n %s\nwant\n %s", got, want)
	}
	if m := configMarks(&p, "kubernetes_secret.other"); len(m) != 0 {
		t.Errorf("marks of another address: %v", m)
	}

	// A value derived from a sensitive variable by functions is marked as
	// a whole attribute, from the configuration's references.
	var q tfjson.Plan
	if err := json.Unmarshal([]byte(`{"format_version":"1.2",
	 "variables": {"app_password": {"value": "lab-only-password"}},
	 "configuration": {"root_module": {"variables": {"app_password": {"sensitive": true}},
	   "resources": [{"address": "kubectl_manifest.app_secret", "mode": "managed", "type": "kubectl_manifest", "name": "app_secret",
	     "expressions": {"yaml_body": {"references": ["var.app_password", "var.namespace"]}, "sensitive_fields": {"constant_value": ["data"]}}}]}},
	 "resource_changes": [{"address": "kubectl_manifest.app_secret", "mode": "managed", "type": "kubectl_manifest", "name": "app_secret",
	   "change": {"actions": ["update"], "before": {}, "after": {"yaml_body": "data:\n  password: bGFiLW9ubHktcGFzc3dvcmQ=\n", "sensitive_fields": ["data"]}}}]}`), &q); err != nil {
		t.Fatal(err)
	}
	got, _ = json.Marshal(configMarks(&q, "kubectl_manifest.app_secret"))
	if string(got) != `[[{"type":"get_attr","value":"yaml_body"}]]` {
		t.Errorf("marks %s", got)
	}
}
