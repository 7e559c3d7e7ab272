package classify

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// inventory is an in-memory Live for table tests.
type inventory map[string]*events.InventoryRecord

func (inv inventory) Get(_ context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	r, ok := inv[tfkube.RefKey(o)]
	return r, ok, nil
}

func rec(group, kind, ns, name, uid string, fieldOwners map[string]string, creators ...string) *events.InventoryRecord {
	r := &events.InventoryRecord{Object: events.ObjectRef{Cluster: "lab", Group: group, Version: "v1", Kind: kind, Namespace: ns, Name: name, UID: uid},
		FieldOwners: map[string]events.Attribution{}}
	for p, m := range fieldOwners {
		r.FieldOwners[p] = events.Attribution{Manager: m, Operation: "Update"}
	}
	for _, m := range creators {
		r.Managers = append(r.Managers, events.PathOwner{Attribution: events.Attribution{Manager: m, Operation: "Update"}})
	}
	return r
}

func (inv inventory) add(r *events.InventoryRecord) inventory {
	inv[tfkube.RefKey(r.Object)] = r
	return inv
}

func deployment(replicas float64, image string, labels map[string]any) map[string]any {
	return map[string]any{
		"id":               "shop/web",
		"wait_for_rollout": true,
		"metadata":         []any{map[string]any{"name": "web", "namespace": "shop", "labels": labels, "resource_version": "100"}},
		"spec": []any{map[string]any{
			"replicas": replicas,
			"template": []any{map[string]any{"spec": []any{map[string]any{
				"container": []any{map[string]any{"name": "web", "image": image}},
			}}}},
		}},
	}
}

func rc(addr, typ string, actions tfjson.Actions, before, after any) *tfjson.ResourceChange {
	name := addr[strings.LastIndex(addr, ".")+1:]
	return &tfjson.ResourceChange{Address: addr, Mode: tfjson.ManagedResourceMode, Type: typ, Name: name,
		Change: &tfjson.Change{Actions: actions, Before: before, After: after}}
}

var (
	create = tfjson.Actions{tfjson.ActionCreate}
	update = tfjson.Actions{tfjson.ActionUpdate}
	del    = tfjson.Actions{tfjson.ActionDelete}
	noop   = tfjson.Actions{tfjson.ActionNoop}
	repl   = tfjson.Actions{tfjson.ActionDelete, tfjson.ActionCreate}
)

const depl = "kubernetes_deployment.web"

func TestClassify(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	webRec := func(owners map[string]string) *events.InventoryRecord {
		return rec("apps", "Deployment", "shop", "web", "uid-web", owners, "HashiCorp")
	}
	ws := Workspace{Name: "marketplace", Cluster: "lab", HighRiskKinds: []string{"statefulsets.apps"},
		Ignore: []config.IgnoreRule{{Resource: "deployments.apps", Paths: []string{"spec.replicas"}, Managers: []string{"horizontal-pod-autoscaler"}}}}

	type want struct {
		class, risk, importID string
		paths                 []string
		managers              []string
	}
	tests := []struct {
		name     string
		plan     tfjson.Plan
		live     inventory
		observed map[string][]events.PathOwner
		want     []want
	}{
		{
			name: "create of a live object is unimported with its import id",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", create, nil, deployment(2, "web:1", nil))}},
			live: inventory{}.add(rec("apps", "Deployment", "shop", "web", "uid-web", nil, "kubectl-create")),
			want: []want{{class: "unimported", risk: "low", importID: "shop/web", managers: []string{"kubectl-create"}}},
		},
		{
			name: "create of an object not live is pending-config",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", create, nil, deployment(2, "web:1", nil))}},
			live: inventory{},
			want: []want{{class: "pending-config", risk: "low"}},
		},
		{
			name: "kubectl_manifest create of a live CNPG cluster is unimported and high risk",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("kubectl_manifest.pg", "kubectl_manifest", create, nil,
				map[string]any{"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "yaml_body": "x"})}},
			live: inventory{}.add(rec("postgresql.cnpg.io", "Cluster", "db", "pg", "uid-pg", nil, "kubectl-client-side-apply")),
			want: []want{{class: "unimported", risk: "high", importID: "postgresql.cnpg.io/v1//Cluster//pg//db", managers: []string{"kubectl-client-side-apply"}}},
		},
		{
			name: "a patched managed field is changed, attributed to the patcher",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(5, "web:1", nil))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(5, "web:1", nil), deployment(2, "web:1", nil))},
			},
			live:     inventory{}.add(webRec(map[string]string{"spec.replicas": "kubectl-patch"})),
			observed: map[string][]events.PathOwner{"apps/Deployment/shop/web": {{Path: "spec.replicas", Attribution: events.Attribution{Manager: "kubectl-patch", Operation: "Update"}}}},
			want:     []want{{class: "changed", risk: "low", paths: []string{"spec.replicas"}, managers: []string{"kubectl-patch"}}},
		},
		{
			name: "attribution falls back to the inventory's field owners",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(2, "web:2", nil))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:2", nil), deployment(2, "web:1", nil))},
			},
			live: inventory{}.add(webRec(map[string]string{"spec.template.spec.containers[name=web].image": "kubectl-set"})),
			want: []want{{class: "changed", risk: "low", paths: []string{"spec.template.spec.containers[name=web].image"}, managers: []string{"kubectl-set"}}},
		},
		{
			name: "an object deleted live is deleted, not also pending-config",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", del, deployment(2, "web:1", nil), nil)},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", create, nil, deployment(2, "web:1", nil))},
			},
			live: inventory{},
			want: []want{{class: "deleted", risk: "low"}},
		},
		{
			name: "a configuration edit never applied is pending-config",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(2, "web:2", nil))}},
			live: inventory{}.add(webRec(nil)),
			want: []want{{class: "pending-config", risk: "low", paths: []string{"spec.template.spec.containers[name=web].image"}}},
		},
		{
			name: "drift and a config edit on one address are two findings",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(5, "web:1", nil))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(5, "web:1", nil), deployment(2, "web:2", nil))},
			},
			live: inventory{}.add(webRec(nil)),
			want: []want{
				{class: "changed", risk: "low", paths: []string{"spec.replicas"}},
				{class: "pending-config", risk: "low", paths: []string{"spec.template.spec.containers[name=web].image"}},
			},
		},
		{
			name: "HPA-owned replicas matched by an ignore rule are ignored",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(7, "web:1", nil))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(7, "web:1", nil), deployment(2, "web:1", nil))},
			},
			live: inventory{}.add(webRec(map[string]string{"spec.replicas": "horizontal-pod-autoscaler"})),
			want: []want{{class: "ignored", risk: "low", paths: []string{"spec.replicas"}, managers: []string{"horizontal-pod-autoscaler"}}},
		},
		{
			name: "a label a controller adds is ignored",
			plan: tfjson.Plan{
				ResourceDrift: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update,
					deployment(2, "web:1", map[string]any{"app": "web"}), deployment(2, "web:1", map[string]any{"app": "web", "argocd.argoproj.io/instance": "shop"}))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update,
					deployment(2, "web:1", map[string]any{"app": "web", "argocd.argoproj.io/instance": "shop"}), deployment(2, "web:1", map[string]any{"app": "web"}))},
			},
			live: inventory{}.add(webRec(map[string]string{"metadata.labels.argocd.argoproj.io/instance": "argocd-controller"})),
			want: []want{{class: "ignored", risk: "low", paths: []string{"metadata.labels.argocd.argoproj.io/instance"}, managers: []string{"argocd-controller"}}},
		},
		{
			name: "drift the configuration would not revert (defaulted field) is ignored",
			plan: tfjson.Plan{
				ResourceDrift:   []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update, deployment(2, "web:1", nil), deployment(2, "web:1", map[string]any{"team": "x"}))},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", noop, deployment(2, "web:1", map[string]any{"team": "x"}), deployment(2, "web:1", map[string]any{"team": "x"}))},
			},
			live: inventory{}.add(webRec(nil)),
			want: []want{{class: "ignored", risk: "low", paths: []string{"metadata.labels.team"}}},
		},
		{
			name: "only Terraform-only attributes differ after an import: clean",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update,
				map[string]any{"metadata": []any{map[string]any{"name": "web", "namespace": "shop"}}, "wait_for_rollout": nil, "timeouts": nil},
				map[string]any{"metadata": []any{map[string]any{"name": "web", "namespace": "shop"}}, "wait_for_rollout": true, "timeouts": nil})}},
			live: inventory{}.add(webRec(nil)),
		},
		{
			name: "a resource_version bump alone is not drift",
			plan: tfjson.Plan{
				ResourceDrift: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", update,
					deployment(2, "web:1", nil), map[string]any{"metadata": []any{map[string]any{"name": "web", "namespace": "shop", "resource_version": "200"}}, "spec": deployment(2, "web:1", nil)["spec"], "id": "shop/web", "wait_for_rollout": true})},
				ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", noop, deployment(2, "web:1", nil), deployment(2, "web:1", nil))},
			},
			live: inventory{}.add(webRec(nil)),
		},
		{
			name: "replace is high risk",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("kubernetes_namespace.shop", "kubernetes_namespace", repl,
				map[string]any{"metadata": []any{map[string]any{"name": "shop"}}}, map[string]any{"metadata": []any{map[string]any{"name": "shop2"}}})}},
			live: inventory{},
			want: []want{{class: "pending-config", risk: "high", paths: []string{"metadata.name"}}},
		},
		{
			name: "removed from the configuration is pending-config, high risk",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc(depl, "kubernetes_deployment", del, deployment(2, "web:1", nil), nil)}},
			live: inventory{}.add(webRec(nil)),
			want: []want{{class: "pending-config", risk: "high"}},
		},
		{
			name: "stateful kinds are high risk",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("kubernetes_stateful_set.db", "kubernetes_stateful_set", create, nil,
				map[string]any{"metadata": []any{map[string]any{"name": "db", "namespace": "shop"}}})}},
			live: inventory{}.add(rec("apps", "StatefulSet", "shop", "db", "u", nil)),
			want: []want{{class: "unimported", risk: "high", importID: "shop/db"}},
		},
		{
			name: "kubectl_manifest drift names the observed fields of yaml_body",
			plan: tfjson.Plan{
				ResourceDrift: []*tfjson.ResourceChange{rc("kubectl_manifest.pg", "kubectl_manifest", update,
					map[string]any{"yaml_body": "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: pg\n  namespace: db\nspec:\n  instances: 1\n", "api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "yaml_incluster": "aaa", "live_manifest_incluster": "aaa"},
					map[string]any{"yaml_body": "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: pg\n  namespace: db\nspec:\n  instances: 1\n", "api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "yaml_incluster": "aaa", "live_manifest_incluster": "bbb"})},
				ResourceChanges: []*tfjson.ResourceChange{func() *tfjson.ResourceChange {
					c := rc("kubectl_manifest.pg", "kubectl_manifest", update,
						map[string]any{"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "yaml_incluster": "aaa", "live_manifest_incluster": "bbb"},
						map[string]any{"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "live_manifest_incluster": "bbb"})
					c.Change.AfterUnknown = map[string]any{"yaml_incluster": true}
					return c
				}()},
			},
			live: inventory{}.add(rec("postgresql.cnpg.io", "Cluster", "db", "pg", "uid-pg", nil)),
			observed: map[string][]events.PathOwner{"postgresql.cnpg.io/Cluster/db/pg": {
				{Path: "spec.instances", Attribution: events.Attribution{Manager: "kubectl-edit", Operation: "Update"}},
				{Path: "status.phase", Attribution: events.Attribution{Manager: "cnpg-operator", Operation: "Update"}},
			}},
			want: []want{{class: "changed", risk: "high", paths: []string{"spec.instances"}, managers: []string{"kubectl-edit"}}},
		},
		{
			name: "kubectl_manifest yaml_body edits are pending-config with their fields",
			plan: tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("kubectl_manifest.cm", "kubectl_manifest", update,
				map[string]any{"api_version": "v1", "kind": "ConfigMap", "name": "cm", "namespace": "shop", "yaml_body_parsed": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n", "yaml_body": "x"},
				map[string]any{"api_version": "v1", "kind": "ConfigMap", "name": "cm", "namespace": "shop", "yaml_body_parsed": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"2\"\n", "yaml_body": "y"})}},
			live: inventory{},
			want: []want{{class: "pending-config", risk: "low", paths: []string{"data.a"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(ws, tt.live)
			got, err := c.Classify(context.Background(), Input{Plan: &tt.plan, Observed: tt.observed, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d: %s", len(got), len(tt.want), dump(got))
			}
			for i, w := range tt.want {
				f := got[i].Finding
				if f.Class != w.class || f.Risk != w.risk || f.ImportID != w.importID {
					t.Errorf("finding %d: class %s risk %s import %q; want %s %s %q (%s)", i, f.Class, f.Risk, f.ImportID, w.class, w.risk, w.importID, got[i].Reason)
				}
				if w.paths == nil {
					w.paths = []string{}
				}
				if !reflect.DeepEqual(f.Paths, w.paths) {
					t.Errorf("finding %d: paths %v, want %v", i, f.Paths, w.paths)
				}
				var ms []string
				for _, a := range f.Attribution {
					ms = append(ms, a.Manager)
				}
				if !reflect.DeepEqual(ms, w.managers) {
					t.Errorf("finding %d: managers %v, want %v", i, ms, w.managers)
				}
				if f.ID != events.FindingID("marketplace", f.Address, f.Class) || f.State != "open" || !f.FirstSeen.Equal(now) {
					t.Errorf("finding %d: id/state/time %s %s %s", i, f.ID, f.State, f.FirstSeen)
				}
				if f.RecommendedAction != RecommendedAction(f.Class) {
					t.Errorf("finding %d: action %s", i, f.RecommendedAction)
				}
			}
		})
	}
}

func dump(rs []Result) string {
	b, _ := json.MarshalIndent(rs, "", " ")
	return string(b)
}

func TestRedaction(t *testing.T) {
	const canary = "canary-7f3e-hunter2"
	secret := func(v string) map[string]any {
		return map[string]any{"metadata": []any{map[string]any{"name": "db", "namespace": "shop"}}, "data": map[string]any{"password": v}, "type": "Opaque"}
	}
	cm := func(v string) map[string]any {
		return map[string]any{"metadata": []any{map[string]any{"name": "cfg", "namespace": "shop"}}, "data": map[string]any{"token": v, "level": "info"}}
	}
	plan := tfjson.Plan{
		ResourceDrift: []*tfjson.ResourceChange{
			rc("kubernetes_secret.db", "kubernetes_secret", update, secret("old-"+canary), secret(canary)),
			func() *tfjson.ResourceChange {
				c := rc("kubernetes_config_map.cfg", "kubernetes_config_map", update, cm("a-"+canary), cm(canary))
				c.Change.BeforeSensitive = map[string]any{"data": map[string]any{"token": true}}
				c.Change.AfterSensitive = map[string]any{"data": map[string]any{"token": true}}
				return c
			}(),
		},
		ResourceChanges: []*tfjson.ResourceChange{
			rc("kubernetes_secret.db", "kubernetes_secret", update, secret(canary), secret("old-"+canary)),
			rc("kubernetes_config_map.cfg", "kubernetes_config_map", update, cm(canary), cm("a-"+canary)),
		},
	}
	plan.ResourceChanges[1].Change.BeforeSensitive = map[string]any{"data": map[string]any{"token": true}}
	c := New(Workspace{Name: "w", Cluster: "lab"}, inventory{})
	got, err := c.Classify(context.Background(), Input{Plan: &plan})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("want 2 findings: %s", dump(got))
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), canary) {
		t.Fatalf("a secret value leaked: %s", b)
	}
	for _, r := range got {
		if r.Finding.Class != "changed" {
			t.Errorf("%s: class %s", r.Finding.Address, r.Finding.Class)
		}
		for f, v := range r.Excerpt.After {
			if v != tfkube.Redacted {
				t.Errorf("%s: %s = %v, want redacted", r.Finding.Address, f, v)
			}
		}
	}
	if got[1].Finding.Risk != "high" || got[1].Finding.Paths[0] != "data.password" {
		t.Errorf("secret finding: %+v", got[1].Finding)
	}
}

func TestChurnRecord(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var r ChurnRecord
	const path = "metadata.labels.argocd.argoproj.io/instance"
	writers := []string{"argocd-controller", "HashiCorp", "argocd-controller", "HashiCorp", "argocd-controller"}
	var flips []int
	for i, m := range writers {
		flips = append(flips, r.Observe(path, m, t0.Add(time.Duration(i)*10*time.Second), 5*time.Minute))
	}
	if !reflect.DeepEqual(flips, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("flips %v", flips)
	}
	paths, managers := r.Churning(4, 5*time.Minute, t0.Add(time.Minute))
	if !reflect.DeepEqual(paths, []string{path}) || len(managers) != 2 || managers[0].Manager != "HashiCorp" {
		t.Fatalf("churning %v %v", paths, managers)
	}
	if p, _ := r.Churning(4, 5*time.Minute, t0.Add(time.Hour)); len(p) != 0 {
		t.Fatalf("flips outside the window still count: %v", p)
	}
	// The same writer again is no flip.
	if n := r.Observe(path, "argocd-controller", t0.Add(time.Minute), 5*time.Minute); n != 4 {
		t.Fatalf("same writer flipped: %d", n)
	}
	if r.Prune(t0.Add(time.Hour), 5*time.Minute) {
		t.Fatal("an old history must be pruned away")
	}
	f := Churn(Workspace{Name: "w", Cluster: "lab"}, depl, tfkube.Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
		paths, managers, t0)
	if f.Finding.Class != "churn" || f.Finding.ID != events.FindingID("w", depl, "churn") || !strings.Contains(f.Reason, "argocd-controller") {
		t.Fatalf("churn finding %+v %s", f.Finding, f.Reason)
	}
}

func TestWrites(t *testing.T) {
	t1, t2 := time.Unix(1, 0), time.Unix(2, 0)
	ev := &events.ObjectChanged{
		Paths:       []string{"metadata.labels.a", "spec.replicas"},
		Attribution: []events.PathOwner{{Path: "spec.replicas", Attribution: events.Attribution{Manager: "kubectl-scale"}}},
		Managers: []events.PathOwner{
			{Attribution: events.Attribution{Manager: "HashiCorp", Time: &t2}},
			{Attribution: events.Attribution{Manager: "kubectl-scale", Time: &t1}},
		},
	}
	got := Writes(ev)
	want := map[string]string{"spec.replicas": "kubectl-scale", "metadata.labels.a": "HashiCorp"}
	if len(got) != 2 {
		t.Fatalf("writes %+v", got)
	}
	for _, w := range got {
		if want[w.Path] != w.Manager {
			t.Errorf("%s written by %s, want %s", w.Path, w.Manager, want[w.Path])
		}
	}
}

func TestUnmanagedScope(t *testing.T) {
	o := events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "x"}
	tests := []struct {
		ns, kinds []string
		want      bool
	}{
		{nil, nil, false},
		{[]string{"shop"}, nil, true},
		{[]string{"other"}, nil, false},
		{[]string{"shop"}, []string{"deployments.apps"}, true},
		{[]string{"shop"}, []string{"services"}, false},
		{nil, []string{"Deployment"}, true},
	}
	for _, tt := range tests {
		if got := InScope(tt.ns, tt.kinds, o, "deployments.apps"); got != tt.want {
			t.Errorf("InScope(%v, %v) = %v", tt.ns, tt.kinds, got)
		}
	}
	if !InScope([]string{"shop"}, nil, events.ObjectRef{Kind: "Namespace", Version: "v1", Name: "shop"}, "namespaces") {
		t.Error("the declared namespace itself is in scope")
	}
	sys := rec("", "ConfigMap", "shop", "kube-root-ca.crt", "u", nil)
	owned := rec("apps", "ReplicaSet", "shop", "web-123", "u", nil)
	mine := rec("", "ConfigMap", "shop", "hand-made", "u", nil, "kubectl-create")
	if !SystemObject(sys) || !SystemObject(owned) || SystemObject(mine) {
		t.Error("SystemObject")
	}
	r := Unmanaged(Workspace{Name: "w", Cluster: "lab"}, mine, time.Now())
	if r.Finding.Class != "unmanaged" || r.Finding.Address != "" || r.Finding.ID != UnmanagedID("w", mine.Object) || r.Finding.Attribution[0].Manager != "kubectl-create" {
		t.Fatalf("%+v", r.Finding)
	}
}

func TestUnowned(t *testing.T) {
	obj := tfkube.Object{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: "db", Name: "pg"}
	writes := []events.PathOwner{
		{Path: "spec.imageName", Attribution: events.Attribution{Manager: "cnpg-operator", Operation: "Apply"}},
		{Path: "spec.instances", Attribution: events.Attribution{Manager: "kubectl-edit", Operation: "Update"}},
		{Path: "metadata.labels.x", Attribution: events.Attribution{Manager: "kubectl-client-side-apply", Operation: "Update"}},
	}
	r, ok := Unowned(Workspace{Name: "db", Cluster: "lab"}, "kubectl_manifest.cluster", obj, writes, []string{"spec.instances"}, time.Now())
	if !ok || r.Finding.Class != "ignored" || !reflect.DeepEqual(r.Finding.Paths, []string{"spec.imageName"}) ||
		r.Finding.Attribution[0].Manager != "cnpg-operator" || r.Finding.Risk != "high" {
		t.Fatalf("%+v", r.Finding)
	}
	if _, ok := Unowned(Workspace{Name: "db"}, "a", obj, writes[2:], nil, time.Now()); ok {
		t.Fatal("the provider's own writes are not findings")
	}
	// A patch-style resource owns only its fields: the rest of the object
	// is someone else's, not an ignored finding of it.
	if _, ok := Unowned(Workspace{Name: "db"}, `module.m["a.b"].kubernetes_labels.worker`, obj, writes, nil, time.Now()); ok {
		t.Fatal("an unowned finding for a patch-style resource")
	}
	for addr, want := range map[string]string{
		"kubernetes_labels.w": "kubernetes_labels", `module.a["x.y"].module.b.kubectl_manifest.m[0]`: "kubectl_manifest",
		"data.kubernetes_namespace.n": "kubernetes_namespace", "bad": "",
	} {
		if got := AddressType(addr); got != want {
			t.Errorf("AddressType(%s) = %q, want %q", addr, got, want)
		}
	}
}

// TestWritesTie: the last writer of an object is chosen as the watcher and
// the field owners choose (tfkube.ClaimsFirst); a tie in time went to the
// first managedFields entry before.
func TestWritesTie(t *testing.T) {
	t1 := time.Unix(1, 0)
	ev := &events.ObjectChanged{
		Paths: []string{"metadata.labels.a"},
		Managers: []events.PathOwner{
			{Attribution: events.Attribution{Manager: "alpha", Operation: "Update", Time: &t1}},
			{Attribution: events.Attribution{Manager: "zeta", Operation: "Apply", Time: &t1}},
		},
	}
	if got := Writes(ev); len(got) != 1 || got[0].Manager != "zeta" {
		t.Fatalf("writes %+v, want metadata.labels.a by zeta (Apply wins a tie)", got)
	}
}

// TestCatalogNote: a Kubernetes provider's type that maps to no object is
// reported as such, not guessed.
func TestCatalogNote(t *testing.T) {
	cat, err := tfkube.ParseCatalog([]byte(`{"format_version":"1.0","provider_schemas":{"registry.opentofu.org/hashicorp/kubernetes":{
		"resource_schemas":{"kubernetes_token_request_v1":{"version":0,"block":{}},"kubernetes_deployment_v1":{"version":0,"block":{}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
		rc("kubernetes_token_request_v1.t", "kubernetes_token_request_v1", create, nil, map[string]any{"metadata": []any{map[string]any{"name": "t"}}}),
		rc("kubernetes_frob_v1.f", "kubernetes_frob_v1", create, nil, map[string]any{"metadata": []any{map[string]any{"name": "f"}}}),
	}}
	got, err := New(Workspace{Name: "w", Cluster: "lab", Catalog: cat}, inventory{}).Classify(context.Background(), Input{Plan: p})
	if err != nil || len(got) != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	for _, r := range got {
		if r.Finding.Class != events.ClassPendingConfig || !strings.Contains(r.Reason, "no import ID") {
			t.Errorf("%s: %s %q", r.Finding.Address, r.Finding.Class, r.Reason)
		}
	}
}
