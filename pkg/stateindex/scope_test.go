package stateindex_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/stateindex"
)

// scopeFixture is a state of a namespace, three ConfigMaps in it (count),
// one of them with a deposed object, a Deployment in a module instance that
// reads a ConfigMap of the root through a module variable, a data source,
// and an unrelated Secret.
const scopeFixture = `{
  "version": 4, "terraform_version": "1.10.10", "serial": 7, "lineage": "l-1",
  "outputs": {"ns": {"value": "shop", "type": "string"}},
  "resources": [
    {"mode": "managed", "type": "kubernetes_namespace", "name": "ns", "provider": "p",
     "instances": [{"schema_version": 0, "attributes": {"id": "shop"}}]},
    {"mode": "managed", "type": "kubernetes_config_map", "name": "cm", "each": "list", "provider": "p",
     "instances": [
       {"index_key": 0, "attributes": {"id": "shop/cm-0"}, "dependencies": ["kubernetes_namespace.ns"]},
       {"index_key": 1, "attributes": {"id": "shop/cm-1"}, "dependencies": ["kubernetes_namespace.ns"]},
       {"index_key": 1, "deposed": "00000001", "attributes": {"id": "shop/cm-1"}, "dependencies": ["kubernetes_namespace.ns"]},
       {"index_key": 2, "attributes": {"id": "shop/cm-2"}, "dependencies": ["kubernetes_namespace.ns"]}]},
    {"module": "module.app[\"a.b\"]", "mode": "managed", "type": "kubernetes_deployment", "name": "web", "provider": "p",
     "instances": [{"attributes": {"id": "shop/web"}, "dependencies": ["kubernetes_config_map.cm"]}]},
    {"mode": "data", "type": "kubernetes_service", "name": "lb", "provider": "p",
     "instances": [{"attributes": {"id": "shop/lb"}}]},
    {"mode": "managed", "type": "kubernetes_secret", "name": "other", "provider": "p",
     "instances": [{"attributes": {"id": "other/s"}}]}
  ],
  "check_results": null
}`

// instances lists a scoped state's instances as address[/deposed].
func instances(t *testing.T, state []byte) []string {
	t.Helper()
	var st struct {
		Resources []struct {
			Module, Mode, Type, Name string
			Instances                []struct {
				IndexKey any    `json:"index_key"`
				Deposed  string `json:"deposed"`
			}
		}
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range st.Resources {
		for _, in := range r.Instances {
			a := stateindex.Address(r.Module, r.Type, r.Name, in.IndexKey)
			if r.Mode == "data" {
				a = "data." + a
			}
			if in.Deposed != "" {
				a += "/" + in.Deposed
			}
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

func TestScopeKeepsTargetsAndWhatTheyDependOn(t *testing.T) {
	cases := []struct {
		name    string
		targets []string
		want    []string
	}{
		{"one instance of a count resource, its deposed object, its namespace, the data source",
			[]string{"kubernetes_config_map.cm[1]"},
			[]string{"data.kubernetes_service.lb", "kubernetes_config_map.cm[1]", "kubernetes_config_map.cm[1]/00000001", "kubernetes_namespace.ns"}},
		{"a resource in a module instance: every instance of what it depends on, transitively",
			[]string{`module.app["a.b"].kubernetes_deployment.web`},
			[]string{"data.kubernetes_service.lb", "kubernetes_config_map.cm[0]", "kubernetes_config_map.cm[1]", "kubernetes_config_map.cm[1]/00000001",
				"kubernetes_config_map.cm[2]", `module.app["a.b"].kubernetes_deployment.web`, "kubernetes_namespace.ns"}},
		{"a target without a key keeps the whole resource",
			[]string{"kubernetes_config_map.cm", "kubernetes_secret.other"},
			[]string{"data.kubernetes_service.lb", "kubernetes_config_map.cm[0]", "kubernetes_config_map.cm[1]", "kubernetes_config_map.cm[1]/00000001",
				"kubernetes_config_map.cm[2]", "kubernetes_namespace.ns", "kubernetes_secret.other"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc, err := stateindex.Scope([]byte(scopeFixture), c.targets)
			if err != nil {
				t.Fatal(err)
			}
			got := instances(t, sc.State)
			want := append([]string(nil), c.want...)
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("kept %v\nwant %v", got, want)
			}
			if sc.Kept != len(want) || sc.Total != 8 {
				t.Fatalf("kept %d of %d, want %d of 8", sc.Kept, sc.Total, len(want))
			}
			var top, orig map[string]json.RawMessage
			if err := json.Unmarshal(sc.State, &top); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal([]byte(scopeFixture), &orig)
			for _, k := range []string{"version", "terraform_version", "serial", "lineage", "outputs", "check_results"} {
				if string(top[k]) != compact(t, orig[k]) {
					t.Errorf("%s: %s, want %s", k, top[k], orig[k])
				}
			}
		})
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestScopeRefusesWhatItCannotCut(t *testing.T) {
	remote := strings.Replace(scopeFixture, `"check_results": null`, `"check_results": null, "x": 1`, 1)
	remote = strings.Replace(remote, `{"mode": "data", "type": "kubernetes_service"`, `{"mode": "data", "type": "terraform_remote_state"`, 1)
	cases := []struct {
		name    string
		state   string
		targets []string
	}{
		{"no targets", scopeFixture, nil},
		{"a target the state does not hold", scopeFixture, []string{"kubernetes_config_map.cm[9]"}},
		{"a terraform_remote_state data source", remote, []string{"kubernetes_config_map.cm[1]"}},
		{"another format version", `{"version": 3, "resources": []}`, []string{"a.b"}},
		{"not JSON", `{"version": 4,`, []string{"a.b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := stateindex.Scope([]byte(c.state), c.targets)
			var ue *stateindex.UnscopableError
			if !errors.As(err, &ue) {
				t.Fatalf("err %v, want an *UnscopableError", err)
			}
		})
	}
}

func TestScopedCheckFindsWhatTheCutLeftOut(t *testing.T) {
	sc, err := stateindex.Scope([]byte(scopeFixture), []string{"kubernetes_config_map.cm[1]"})
	if err != nil {
		t.Fatal(err)
	}
	rc := func(addr string, mode tfjson.ResourceMode, a tfjson.Action) *tfjson.ResourceChange {
		return &tfjson.ResourceChange{Address: addr, Mode: mode, Change: &tfjson.Change{Actions: tfjson.Actions{a}}}
	}
	ok := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		rc("kubernetes_config_map.cm[1]", tfjson.ManagedResourceMode, tfjson.ActionUpdate),
		rc("kubernetes_namespace.ns", tfjson.ManagedResourceMode, tfjson.ActionNoop),
		rc("data.kubernetes_service.lb", tfjson.DataResourceMode, tfjson.ActionRead),
		rc("kubernetes_config_map.new", tfjson.ManagedResourceMode, tfjson.ActionCreate), // in neither state
	}}
	if err := sc.Check(ok); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := sc.Check(nil); err != nil {
		t.Fatalf("check of no plan: %v", err)
	}
	bad := &tfjson.Plan{ResourceChanges: append(ok.ResourceChanges,
		rc("kubernetes_secret.other", tfjson.ManagedResourceMode, tfjson.ActionCreate))}
	var ue *stateindex.UnscopableError
	if err := sc.Check(bad); !errors.As(err, &ue) || !strings.Contains(err.Error(), "kubernetes_secret.other") {
		t.Fatalf("check: %v, want the left-out secret named", err)
	}
}

func TestIndexNotReadFromASourceIsNotScoped(t *testing.T) {
	ix, err := stateindex.Parse([]byte(scopeFixture))
	if err != nil {
		t.Fatal(err)
	}
	var ue *stateindex.UnscopableError
	if _, err := ix.Scope([]string{"kubernetes_namespace.ns"}); !errors.As(err, &ue) {
		t.Fatalf("err %v", err)
	}
}
