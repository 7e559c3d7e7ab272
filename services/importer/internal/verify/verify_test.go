package verify

import (
	"encoding/json"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

func plan(t *testing.T, js string) *tfjson.Plan {
	t.Helper()
	var p tfjson.Plan
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func rc(addr, typ string, actions []string, before, after, unknown string) string {
	a, _ := json.Marshal(actions)
	return `{"address":"` + addr + `","mode":"managed","type":"` + typ + `","name":"x","change":{"actions":` + string(a) +
		`,"before":` + before + `,"after":` + after + `,"after_unknown":` + unknown + `,"before_sensitive":{},"after_sensitive":{}}}`
}

func TestCheck(t *testing.T) {
	const dep = "kubernetes_deployment.web"
	spec := func(replicas int) string {
		b, _ := json.Marshal(map[string]any{"metadata": []any{map[string]any{"name": "web", "namespace": "shop"}},
			"spec": []any{map[string]any{"replicas": replicas}}})
		return string(b)
	}
	withTF := func(s string, wait any) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(s), &m)
		m["wait_for_rollout"], m["timeouts"] = wait, nil
		b, _ := json.Marshal(m)
		return string(b)
	}
	cases := []struct {
		name     string
		changes  []string
		ignored  func(string) bool
		ok, noop bool
		settle   []string
		blocking string
	}{
		{name: "no-op", changes: []string{rc(dep, "kubernetes_deployment", []string{"no-op"}, spec(2), spec(2), "{}")}, ok: true, noop: true},
		{name: "terraform-only attributes settle",
			changes: []string{rc(dep, "kubernetes_deployment", []string{"update"}, withTF(spec(2), nil), withTF(spec(2), false), "{}")},
			ok:      true, settle: []string{"wait_for_rollout"}},
		{name: "replicas differ",
			changes: []string{rc(dep, "kubernetes_deployment", []string{"update"}, spec(3), spec(2), "{}")},
			ok:      false, blocking: "spec.replicas: 3 -> 2"},
		{name: "replicas ignored",
			changes: []string{rc(dep, "kubernetes_deployment", []string{"update"}, spec(3), spec(2), "{}")},
			ignored: func(f string) bool { return f == "spec.replicas" }, ok: true},
		{name: "a dependency is destroyed",
			changes: []string{rc(dep, "kubernetes_deployment", []string{"no-op"}, spec(2), spec(2), "{}"),
				rc("kubernetes_namespace.shop", "kubernetes_namespace", []string{"delete", "create"}, "{}", "{}", "{}")},
			ok: false, blocking: "kubernetes_namespace.shop: would be replaced"},
		{name: "a dependency is created", changes: []string{rc(dep, "kubernetes_deployment", []string{"no-op"}, spec(2), spec(2), "{}"),
			rc("kubernetes_namespace.shop", "kubernetes_namespace", []string{"create"}, "null", "{}", "{}")}, ok: true, noop: true},
		{name: "the import did not take", changes: []string{rc(dep, "kubernetes_deployment", []string{"create"}, "null", spec(2), "{}")},
			ok: false, blocking: dep + ": would be created"},
		{name: "not in the plan", ok: false, blocking: "not in the plan"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := plan(t, `{"format_version":"1.2","resource_changes":[`+strings.Join(c.changes, ",")+`]}`)
			r := Check(p, dep, Rules{Ignored: c.ignored})
			if r.OK() != c.ok || r.NoOp() != c.noop {
				t.Fatalf("ok=%v noop=%v, want %v %v: %+v", r.OK(), r.NoOp(), c.ok, c.noop, r)
			}
			for _, k := range c.settle {
				if _, ok := r.Settle[k]; !ok {
					t.Errorf("settle %v lacks %s", r.Settle, k)
				}
			}
			if c.blocking != "" && !strings.Contains(strings.Join(r.Blocking, "\n"), c.blocking) {
				t.Errorf("blocking %q lacks %q", r.Blocking, c.blocking)
			}
		})
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	const addr = "kubernetes_secret.s"
	p := plan(t, `{"format_version":"1.2","resource_changes":[`+rc(addr, "kubernetes_secret", []string{"update"},
		`{"metadata":[{"name":"s"}],"data":{"password":"hunter2"}}`, `{"metadata":[{"name":"s"}],"data":{"password":"swordfish"}}`, "{}")+`]}`)
	r := Check(p, addr, Rules{Secret: true})
	if r.OK() {
		t.Fatal("a changed secret verified")
	}
	if s := strings.Join(r.Blocking, "\n"); strings.Contains(s, "hunter2") || strings.Contains(s, "swordfish") {
		t.Errorf("secret value in %q", s)
	}
}
