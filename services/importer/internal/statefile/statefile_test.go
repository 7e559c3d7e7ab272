package statefile

import (
	"encoding/json"
	"testing"
)

func TestParseAddress(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Address
		err  bool
	}{
		{in: "kubernetes_deployment.web", want: Address{Type: "kubernetes_deployment", Name: "web"}},
		{in: `module.app.kubernetes_config_map.cm["a.b"]`, want: Address{Module: "module.app", Type: "kubernetes_config_map", Name: "cm", Key: "a.b"}},
		{in: `module.a["x"].module.b.kubectl_manifest.m[2]`, want: Address{Module: `module.a["x"].module.b`, Type: "kubectl_manifest", Name: "m", Key: 2}},
		{in: "data.kubernetes_namespace.x", err: true},
		{in: "kubernetes_namespace", err: true},
	} {
		got, err := ParseAddress(c.in)
		if (err != nil) != c.err {
			t.Errorf("%s: err %v", c.in, err)
			continue
		}
		if !c.err && got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

const state = `{"version": 4, "terraform_version": "1.10.10", "serial": 7, "lineage": "l-1", "outputs": {},
 "resources": [
  {"mode": "managed", "type": "kubernetes_deployment", "name": "web", "provider": "p",
   "instances": [{"schema_version": 1, "attributes": {"id": "shop/web", "wait_for_rollout": null, "timeouts": null, "big": 12345678901234567890}}]},
  {"module": "module.m", "mode": "managed", "type": "kubernetes_config_map", "name": "cm", "provider": "p",
   "instances": [{"index_key": "a", "attributes": {"id": "x"}}, {"index_key": "b", "attributes": {"id": "y"}}]}
 ]}`

func TestSetAttributes(t *testing.T) {
	out, err := SetAttributes([]byte(state), "kubernetes_deployment.web", map[string]any{"wait_for_rollout": false})
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Serial    int64  `json:"serial"`
		Lineage   string `json:"lineage"`
		Resources []struct {
			Instances []struct {
				Attributes map[string]json.RawMessage `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	a := st.Resources[0].Instances[0].Attributes
	if st.Serial != 8 || st.Lineage != "l-1" || string(a["wait_for_rollout"]) != "false" || string(a["big"]) != "12345678901234567890" {
		t.Errorf("serial %d lineage %s attrs %s", st.Serial, st.Lineage, out)
	}
	if has, _ := Has([]byte(state), `module.m.kubernetes_config_map.cm["b"]`); !has {
		t.Error(`module.m.kubernetes_config_map.cm["b"] not found`)
	}
	if has, _ := Has([]byte(state), `module.m.kubernetes_config_map.cm["c"]`); has {
		t.Error(`module.m.kubernetes_config_map.cm["c"] found`)
	}
	if _, err := SetAttributes([]byte(state), "kubernetes_deployment.api", nil); err == nil {
		t.Error("no error for a missing instance")
	}
}
