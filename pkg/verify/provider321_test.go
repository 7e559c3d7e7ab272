package verify

// TestProvider321Fixtures runs the state index, the classifier, the import
// IDs and the verifier over every scenario recorded with the real
// hashicorp/kubernetes 3.2.1 provider (testdata/kubernetes-3.2.1, see its
// README.md) and asserts the findings of each scenario's expected.md
// exactly. The live objects the classifier asks about are the recorded
// ones (kubectl get -o json --show-managed-fields), read through pkg/live's
// record builder as the gate reads the cluster.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

const (
	fixtures = "../../testdata/kubernetes-3.2.1/scenarios"
	canary   = "CANARY-7f3a"
)

// recordedLive is the cluster as recorded in a scenario's live/ directory.
type recordedLive struct {
	recs map[string]*events.InventoryRecord
	objs map[string]map[string]any
}

func loadLive(t *testing.T, dir string) recordedLive {
	t.Helper()
	l := recordedLive{recs: map[string]*events.InventoryRecord{}, objs: map[string]map[string]any{}}
	files, err := filepath.Glob(filepath.Join(dir, "live", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no live objects in %s: %v", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, absent := m["absent"]; absent {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		gvk := u.GroupVersionKind()
		key := tfkube.IdentityKey(gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())
		l.recs[key] = live.ObjectRecord("lab", tfkube.ResourceName(tfkube.GuessPlural(gvk.Kind), gvk.Group), u, time.Now())
		l.objs[key] = m
	}
	return l
}

func (l recordedLive) Get(_ context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	r, ok := l.recs[tfkube.RefKey(o)]
	return r, ok, nil
}

func (l recordedLive) Object(_ context.Context, o events.ObjectRef) (map[string]any, bool, error) {
	m, ok := l.objs[tfkube.RefKey(o)]
	return m, ok, nil
}

func readPlan(t *testing.T, path string) *tfjson.Plan {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p tfjson.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &p
}

// want is one finding of an expected.md.
type want struct {
	address, class, risk string
	paths                []string
	managers             []string // attribution, in order
	importID             string
	object               string // apiVersion Kind namespace/name, when the expected.md names it
	conflict             bool
}

func TestProvider321Fixtures(t *testing.T) {
	scenarios := map[string][]want{
		"00-clean": nil,
		"01-already-exists": {
			{address: `kubernetes_ingress_v1.service_funnel["pal-e-docs"]`, class: "unimported", risk: "low", importID: "pal-e-docs/funnel",
				object: "networking.k8s.io/v1 Ingress pal-e-docs/funnel", managers: []string{"HashiCorp"}},
			{address: "kubernetes_manifest.argocd_app", class: "unimported", risk: "low",
				importID: "apiVersion=argoproj.io/v1alpha1,kind=Application,namespace=pal-e-app,name=pal-e-docs",
				object:   "argoproj.io/v1alpha1 Application pal-e-app/pal-e-docs", managers: []string{"Terraform"}},
			{address: "kubernetes_manifest.cnpg_cluster", class: "unimported", risk: "high",
				importID: "apiVersion=postgresql.cnpg.io/v1,kind=Cluster,namespace=pal-e-app,name=pal-e-db",
				object:   "postgresql.cnpg.io/v1 Cluster pal-e-app/pal-e-db", managers: []string{"Terraform"}},
			{address: "kubernetes_manifest.cnpg_scheduled_backup", class: "unimported", risk: "low",
				importID: "apiVersion=postgresql.cnpg.io/v1,kind=ScheduledBackup,namespace=pal-e-app,name=pal-e-db-daily",
				object:   "postgresql.cnpg.io/v1 ScheduledBackup pal-e-app/pal-e-db-daily", managers: []string{"Terraform"}},
			{address: `kubernetes_secret_v1.harbor_creds["pal-e-app"]`, class: "unimported", risk: "high", importID: "pal-e-app/harbor-creds",
				object: "v1 Secret pal-e-app/harbor-creds", managers: []string{"HashiCorp"}},
		},
		"02-scaled": {
			{address: "kubernetes_deployment_v1.app", class: "changed", risk: "low", paths: []string{"spec.replicas"}, managers: []string{"kubectl"},
				object: "apps/v1 Deployment pal-e-app/pal-e-app"},
		},
		"03-label-by-argocd": {
			{address: `kubernetes_ingress_v1.service_funnel["pal-e-docs"]`, class: "ignored", risk: "low",
				paths: []string{"metadata.labels.argocd.argoproj.io/instance"}, managers: []string{"argocd-controller"}},
		},
		"04-deleted": {
			{address: "kubernetes_service_v1.app", class: "deleted", risk: "low"},
		},
		"05-secret-changed": {
			{address: `kubernetes_secret_v1.harbor_creds["pal-e-app"]`, class: "changed", risk: "high",
				paths: []string{"data..dockerconfigjson"}, managers: []string{"kubectl-patch"}},
		},
		"06-operator-default": {
			{address: "kubernetes_manifest.cnpg_cluster", class: "changed", risk: "high", paths: []string{"spec.instances"},
				managers: []string{"cnpg-operator"}, conflict: true, object: "postgresql.cnpg.io/v1 Cluster pal-e-app/pal-e-db"},
			{address: "kubernetes_manifest.cnpg_cluster", class: "ignored", risk: "high",
				paths: []string{"spec.imageName", "spec.primaryUpdateStrategy"}, managers: []string{"cnpg-operator"}},
		},
		"07-pending-config": {
			{address: "kubernetes_config_map_v1.app", class: "pending-config", risk: "low", paths: []string{"data.LOG_LEVEL"}},
		},
		"08-labels-patch-drift": {
			{address: "kubernetes_labels.worker", class: "changed", risk: "low", paths: []string{"metadata.labels.team"},
				managers: []string{"kubectl-label"}, conflict: true, object: "apps/v1 Deployment pal-e-app/pal-e-worker"},
		},
		"09-first-plan-after-create": nil,
		"90-patch-same-field-manager": {
			{address: "kubernetes_env.worker", class: "pending-config", risk: "low",
				paths: []string{"spec.template.spec.containers[name=worker].env[name=PAL_E_MODE]"}},
			{address: "kubernetes_labels.worker", class: "pending-config", risk: "low", paths: []string{"metadata.labels.team"}},
		},
	}
	dirs, err := filepath.Glob(filepath.Join(fixtures, "*"))
	if err != nil {
		t.Fatal(err)
	}
	schema, err := os.ReadFile(filepath.Join(fixtures, "..", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := tfkube.ParseCatalog(schema)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(scenarios) {
		t.Fatalf("%d scenarios recorded, %d expected here: every scenario must be in the table", len(dirs), len(scenarios))
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		wants, ok := scenarios[name]
		if !ok {
			t.Fatalf("scenario %s has no expected findings in this test", name)
		}
		t.Run(name, func(t *testing.T) {
			stateBytes, err := os.ReadFile(filepath.Join(dir, "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			ix, err := stateindex.Parse(stateBytes)
			if err != nil {
				t.Fatal(err)
			}
			if ix.Len() == 0 || ix.Len() != ix.Resources {
				t.Fatalf("state index: %d of %d resource instances indexed", ix.Len(), ix.Resources)
			}
			lv := loadLive(t, dir)
			ws := classify.Workspace{Name: "pal-e", Cluster: "lab", Catalog: catalog}
			p := readPlan(t, filepath.Join(dir, "plan.json"))
			got, err := classify.New(ws, lv).Classify(context.Background(), classify.Input{Plan: p, Now: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			assertFindings(t, got, wants)
			for _, r := range got {
				if strings.Contains(r.Reason, "no import ID") {
					t.Errorf("%s: the provider's schema has its type, yet: %s", r.Finding.Address, r.Reason)
				}
			}
			// Every address the state index holds names the object the
			// classifier names, with the import ID the provider accepts.
			for _, r := range got {
				e, ok := ix.ByAddress(r.Finding.Address)
				if !ok || r.Finding.Class == events.ClassUnimported {
					continue
				}
				if tfkube.RefKey(r.Finding.Object) != e.Object.Key() {
					t.Errorf("%s: finding names %v, the state index %v", r.Finding.Address, r.Finding.Object, e.Object)
				}
			}
			// The verifier on every planned update of the scenario: its
			// lines never carry the canary, and name Kubernetes fields.
			var lines []string
			for _, rc := range p.ResourceChanges {
				if rc.Change != nil && rc.Change.Actions.Update() {
					obj, _ := tfkube.ObjectOf(rc.Type, asMap(rc.Change.Before))
					var owners map[string]events.Attribution
					if rec, ok, _ := lv.Get(context.Background(), obj.Ref("lab")); ok {
						owners = rec.FieldOwners
					}
					res := Check(p, rc.Address, RulesFor(obj, nil, owners, lv.objs[obj.Key()]))
					lines = append(lines, res.Blocking...)
				}
			}
			out, _ := json.Marshal(got)
			all := string(out) + strings.Join(lines, "\n")
			for _, r := range got {
				all += r.Reason
			}
			if strings.Contains(all, canary) {
				t.Fatalf("the canary leaked into a finding, excerpt, reason or verifier line")
			}
			if name == "05-secret-changed" {
				if b, _ := os.ReadFile(filepath.Join(dir, "plan.json")); !strings.Contains(string(b), canary) {
					t.Fatal("the fixture lost its canary: this test would prove nothing")
				}
			}
			if name == "90-patch-same-field-manager" {
				for _, r := range got {
					if !strings.Contains(r.Reason, "shares its field manager") || !strings.Contains(r.Reason, "kubernetes_annotations.worker") {
						t.Errorf("%s: the shared field manager is not named: %s", r.Finding.Address, r.Reason)
					}
				}
			} else {
				for _, r := range got {
					if strings.Contains(r.Reason, "shares its field manager") {
						t.Errorf("%s: each patch-style resource has its own field manager here: %s", r.Finding.Address, r.Reason)
					}
				}
			}
			if name == "06-operator-default" {
				// Not sensitive: the dry run shows the values.
				if s := strings.Join(lines, "\n"); !strings.Contains(s, "kubernetes_manifest.cnpg_cluster: spec.instances: 3 -> 2") || strings.Contains(s, tfkube.Redacted) {
					t.Errorf("verifier lines for a plain manifest change: %s", s)
				}
			}
		})
	}
}

// TestProvider321IgnoreRule: the example config's rule {managers:
// [argocd-controller]} matches the Argo CD label on a _v1 Ingress, now that
// its path and manager are read (03).
func TestProvider321IgnoreRule(t *testing.T) {
	dir := filepath.Join(fixtures, "03-label-by-argocd")
	ws := classify.Workspace{Name: "pal-e", Cluster: "lab", Ignore: []config.IgnoreRule{{Managers: []string{"argocd-controller"}}}}
	got, err := classify.New(ws, loadLive(t, dir)).Classify(context.Background(),
		classify.Input{Plan: readPlan(t, filepath.Join(dir, "plan.json")), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Finding.Class != events.ClassIgnored || !strings.Contains(got[0].Reason, tfkube.ReasonIgnoreRule) {
		t.Fatalf("got %+v", got)
	}
}

// TestProvider321AfterImport: the plan recorded right after the five
// imports of 01 is bookkeeping only: the verifier accepts each address,
// settling manifest (null -> the configuration the object already holds)
// and wait_for_service_account_token in the state, without an apply.
func TestProvider321AfterImport(t *testing.T) {
	dir := filepath.Join(fixtures, "01-already-exists")
	p := readPlan(t, filepath.Join(dir, "after-import-plan.json"))
	lv := loadLive(t, dir)
	settle := map[string][]string{
		"kubernetes_manifest.cnpg_cluster":                   {"manifest"},
		"kubernetes_manifest.cnpg_scheduled_backup":          {"manifest"},
		"kubernetes_manifest.argocd_app":                     {"manifest"},
		`kubernetes_secret_v1.harbor_creds["pal-e-app"]`:     {"wait_for_service_account_token"},
		`kubernetes_ingress_v1.service_funnel["pal-e-docs"]`: nil,
	}
	for addr, keys := range settle {
		var rc *tfjson.ResourceChange
		for _, c := range p.ResourceChanges {
			if c.Address == addr {
				rc = c
			}
		}
		if rc == nil {
			t.Fatalf("%s not in the after-import plan", addr)
		}
		obj, err := tfkube.ObjectOf(rc.Type, asMap(rc.Change.After))
		if err != nil {
			t.Fatal(err)
		}
		rec, _, _ := lv.Get(context.Background(), obj.Ref("lab"))
		r := Check(p, addr, RulesFor(obj, nil, rec.FieldOwners, lv.objs[obj.Key()]))
		if !r.OK() {
			t.Errorf("%s: blocked: %v", addr, r.Blocking)
			continue
		}
		var got []string
		for k := range r.Settle {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, keys) {
			t.Errorf("%s: settles %v, want %v", addr, got, keys)
		}
		if keys == nil && !r.NoOp() {
			t.Errorf("%s: not a no-op: %+v", addr, r)
		}
		if m, ok := r.Settle["manifest"]; ok && !reflect.DeepEqual(m, asMap(rc.Change.After)["manifest"]) {
			t.Errorf("%s: settles manifest to %v, not the configuration", addr, m)
		}
	}
	// A manifest that differs from the object is not bookkeeping: with
	// spec.instances changed in the configuration, the verifier blocks.
	b, _ := os.ReadFile(filepath.Join(dir, "after-import-plan.json"))
	var q tfjson.Plan
	_ = json.Unmarshal(b, &q)
	for _, c := range q.ResourceChanges {
		if c.Address == "kubernetes_manifest.cnpg_cluster" {
			spec := asMap(asMap(asMap(c.Change.After)["manifest"])["spec"])
			spec["instances"] = json.Number("5")
		}
	}
	if r := Check(&q, "kubernetes_manifest.cnpg_cluster", Rules{}); r.OK() {
		t.Fatalf("a manifest asking for 5 instances against 2 live verified: %+v", r)
	}
}

func assertFindings(t *testing.T, got []classify.Result, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		var s []string
		for _, r := range got {
			s = append(s, r.Finding.Class+" "+r.Finding.Address+" "+strings.Join(r.Finding.Paths, ",")+" ("+r.Reason+")")
		}
		t.Fatalf("%d findings, want %d:\n%s", len(got), len(wants), strings.Join(s, "\n"))
	}
	sort.SliceStable(wants, func(i, j int) bool {
		if wants[i].address != wants[j].address {
			return wants[i].address < wants[j].address
		}
		return wants[i].class < wants[j].class
	})
	for i, w := range wants {
		f := got[i].Finding
		var managers []string
		for _, a := range f.Attribution {
			managers = append(managers, a.Manager)
		}
		paths := f.Paths
		if len(paths) == 0 {
			paths = nil
		}
		if f.Address != w.address || f.Class != w.class || f.Risk != w.risk || !reflect.DeepEqual(paths, w.paths) ||
			!reflect.DeepEqual(managers, w.managers) || f.ImportID != w.importID || got[i].Conflict != w.conflict {
			t.Errorf("finding %d:\n got  %s %s risk %s paths %q managers %q import %q conflict %v (%s)\n want %s %s risk %s paths %q managers %q import %q conflict %v",
				i, f.Class, f.Address, f.Risk, paths, managers, f.ImportID, got[i].Conflict, got[i].Reason,
				w.class, w.address, w.risk, w.paths, w.managers, w.importID, w.conflict)
		}
		if w.object != "" {
			o := f.Object
			if s := tfkube.APIVersion(o.Group, o.Version) + " " + o.Kind + " " + o.Namespace + "/" + o.Name; s != w.object || o.UID == "" {
				t.Errorf("%s: object %s (uid %q), want %s", w.address, s, o.UID, w.object)
			}
		}
		if w.conflict && !strings.Contains(got[i].Reason, "field-manager conflict") {
			t.Errorf("%s: reason lacks the conflict note: %s", w.address, got[i].Reason)
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
