package verify

import (
	"encoding/json"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
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
		ignored  func(string, bool) bool
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
			ignored: func(f string, _ bool) bool { return f == "spec.replicas" }, ok: true},
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

// TestRulesFor: the verifier ignores what the planner's classifier ignores
// (tfkube.IgnoreReason with tfkube.OwnerOf), and names fields as the
// planner does: a keyed list element by its keys (the verifier named it by
// index before).
func TestRulesFor(t *testing.T) {
	const dep = "kubernetes_deployment.web"
	spec := func(replicas int, image string) string {
		b, _ := json.Marshal(map[string]any{"metadata": []any{map[string]any{"name": "web", "namespace": "shop"}},
			"spec": []any{map[string]any{"replicas": replicas, "template": []any{map[string]any{"spec": []any{map[string]any{
				"container": []any{map[string]any{"name": "web", "image": image}}}}}}}}})
		return string(b)
	}
	obj := tfkube.Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web", Resource: "deployments.apps"}
	hpa := map[string]events.Attribution{"spec.replicas": {Manager: "horizontal-pod-autoscaler", Operation: "Update"}}
	person := map[string]events.Attribution{"spec.replicas": {Manager: "kubectl-scale", Operation: "Update"},
		"spec.template.spec.containers[name=web].image": {Manager: "kubectl-set", Operation: "Update"}}
	byRule := []config.IgnoreRule{{Resource: "deployments.apps", Paths: []string{"spec.replicas"}}}
	cases := []struct {
		name     string
		before   string
		ignore   []config.IgnoreRule
		owners   map[string]events.Attribution
		ok       bool
		ignored  []string
		blocking string
	}{
		// The configuration sets replicas: a controller owning it is a
		// conflict the import must not hide (it was "ignored" before
		// issue 12's owner rule); an ignore rule naming the HPA still
		// covers it.
		{name: "a controller took replicas the config sets", before: spec(3, "web:1"), owners: hpa, blocking: "spec.replicas: 3 -> 2"},
		{name: "an ignore rule names the controller", before: spec(3, "web:1"), owners: hpa, ok: true, ignored: []string{"spec.replicas"},
			ignore: []config.IgnoreRule{{Managers: []string{"horizontal-pod-autoscaler"}}}},
		{name: "an ignore rule covers replicas", before: spec(3, "web:1"), ignore: byRule, owners: person, ok: true, ignored: []string{"spec.replicas"}},
		{name: "a person owns replicas", before: spec(3, "web:1"), owners: person, blocking: "spec.replicas: 3 -> 2"},
		{name: "nobody owns replicas", before: spec(3, "web:1"), blocking: "spec.replicas: 3 -> 2"},
		{name: "a keyed element is named by its key", before: spec(2, "web:2"), owners: person,
			blocking: `spec.template.spec.containers[name=web].image: "web:2" -> "web:1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := plan(t, `{"format_version":"1.2","resource_changes":[`+rc(dep, "kubernetes_deployment", []string{"update"}, c.before, spec(2, "web:1"), "{}")+`]}`)
			r := Check(p, dep, RulesFor(obj, c.ignore, c.owners, nil))
			if r.OK() != c.ok {
				t.Fatalf("ok=%v, want %v: %+v", r.OK(), c.ok, r)
			}
			if c.ignored != nil && strings.Join(r.Ignored, ",") != strings.Join(c.ignored, ",") {
				t.Errorf("ignored %q, want %q", r.Ignored, c.ignored)
			}
			if c.blocking != "" && !strings.Contains(strings.Join(r.Blocking, "\n"), c.blocking) {
				t.Errorf("blocking %q lacks %q", r.Blocking, c.blocking)
			}
		})
	}
}

// TestSensitiveOnEitherSide: a value the plan marks sensitive on one side
// only is redacted on both, as the planner's excerpts redact it (the
// verifier showed the unmarked side before).
func TestSensitiveOnEitherSide(t *testing.T) {
	const addr = "kubernetes_config_map.c"
	p := plan(t, `{"format_version":"1.2","resource_changes":[{"address":"`+addr+`","mode":"managed","type":"kubernetes_config_map","name":"c",
		"change":{"actions":["update"],"before":{"metadata":[{"name":"c"}],"data":{"token":"old-token"}},"after":{"metadata":[{"name":"c"}],"data":{"token":"new-token"}},
		"after_unknown":{},"before_sensitive":{},"after_sensitive":{"data":{"token":true}}}}]}`)
	r := Check(p, addr, Rules{})
	if r.OK() {
		t.Fatal("a changed value verified")
	}
	s := strings.Join(r.Blocking, "\n")
	if strings.Contains(s, "old-token") || strings.Contains(s, "new-token") || !strings.Contains(s, "data.token") {
		t.Errorf("blocking %q", s)
	}
}
