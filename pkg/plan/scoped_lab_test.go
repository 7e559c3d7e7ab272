package plan_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/plan"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// scopedModule is one namespace, four ConfigMaps in it (count) and one more
// ConfigMap in it on its own: every ConfigMap depends on the namespace.
func scopedModule(ns string) string {
	return lab.ConfigMapModule(ns, 4) + `
resource "kubernetes_config_map" "solo" {
  metadata {
    name      = "solo"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { a = "1" }
}
`
}

// TestScopedStateLab plans drifted objects of a workspace applied with
// OpenTofu, and one applied with Terraform, to the lab's S3 backend twice — targeted on the backend's state
// (Plan) and on the state cut down to the targets (PlanScoped) — and
// requires the same plan of each (resource changes and drift): a ConfigMap of a count resource, one on
// its own, both, and a namespace without drift. A state whose recorded
// dependencies miss the namespace is caught by Scoped.Check (the scoped
// plan would create the namespace), and the state object in S3 — its
// versions, serial and lineage — is the same after every scoped plan, with
// no lock taken.
func TestScopedStateLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testScopedState(t, l, bin) })
	}
}

func testScopedState(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ns, key := "scoped-"+string(bin), "scoped-"+string(bin)+"/terraform.tfstate"
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.tf"), []byte(scopedModule(ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	w := l.NewWorkspace(t, src, bin, key)
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"cm-2": `{"data":{"index":"edited"}}`, "solo": `{"data":{"a":"2","b":"new"}}`} {
		if _, err := l.Kube().CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, []byte(body),
			metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}

	r, err := plan.New(plan.Workspace{Name: "scoped", Dir: w.Dir, Binary: l.BinaryPath(bin)},
		plan.Options{DataDir: t.TempDir(), Environ: append(os.Environ(), l.Env()...)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	loc, err := r.StateLocation()
	if err != nil {
		t.Fatal(err)
	}
	client, err := tofu.NewS3Client(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	ix, _, err := stateindex.NewSource(client, loc).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := l.StateVersions(ctx, key)
	if err != nil || len(before) == 0 {
		t.Fatalf("state versions: %v %v", before, err)
	}
	locksBefore, err := l.StateVersions(ctx, key+".tflock") // the apply's
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name    string
		targets []string
		changed []string // addresses planned other than no-op
	}{
		{"an instance of a count resource", []string{"kubernetes_config_map.cm[2]"}, []string{"kubernetes_config_map.cm[2]"}},
		{"a resource on its own", []string{"kubernetes_config_map.solo"}, []string{"kubernetes_config_map.solo"}},
		{"both", []string{"kubernetes_config_map.cm[2]", "kubernetes_config_map.solo"},
			[]string{"kubernetes_config_map.cm[2]", "kubernetes_config_map.solo"}},
		{"the namespace, no drift", []string{"kubernetes_namespace.ns"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc, err := ix.Scope(c.targets)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Kept >= sc.Total {
				t.Fatalf("kept %d of %d instances", sc.Kept, sc.Total)
			}
			full, err := r.Plan(ctx, c.targets)
			if err != nil {
				t.Fatal(err)
			}
			scoped, err := r.PlanScoped(ctx, c.targets, sc.State)
			if err != nil {
				t.Fatal(err)
			}
			if !scoped.Scoped || full.Scoped {
				t.Fatalf("Scoped: %v on the scoped state, %v on the backend's", scoped.Scoped, full.Scoped)
			}
			if err := sc.Check(scoped.Plan); err != nil {
				t.Fatalf("check: %v", err)
			}
			if scoped.Changes != full.Changes || scoped.Changes != (len(c.changed) > 0) {
				t.Fatalf("changes %v on the scoped state, %v on the backend's, want %v", scoped.Changes, full.Changes, len(c.changed) > 0)
			}
			if got := changed(scoped.Plan); strings.Join(got, " ") != strings.Join(c.changed, " ") {
				t.Fatalf("scoped plan changes %v, want %v", got, c.changed)
			}
			if d := samePlan(full.Plan, scoped.Plan); d != "" {
				t.Fatalf("the plans differ: %s", d)
			}
		})
	}

	t.Run("dependencies the state does not record", func(t *testing.T) {
		// As if the ConfigMaps had been applied before they referenced the
		// namespace: the cut leaves the namespace out, the scoped plan
		// creates it, and Check says so.
		cur, err := tofu.NewStore(client, loc.Bucket, loc.Key).Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stale := strings.ReplaceAll(string(cur.Body), `"kubernetes_namespace.ns"`, `"kubernetes_secret.gone"`)
		sc, err := stateindex.Scope([]byte(stale), []string{"kubernetes_config_map.cm[2]"})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Kept != 1 {
			t.Fatalf("kept %d instances, want the target alone", sc.Kept)
		}
		res, err := r.PlanScoped(ctx, []string{"kubernetes_config_map.cm[2]"}, sc.State)
		if err != nil {
			t.Fatal(err)
		}
		var ue *stateindex.UnscopableError
		if err := sc.Check(res.Plan); !errors.As(err, &ue) || !strings.Contains(err.Error(), "kubernetes_namespace.ns") {
			t.Fatalf("check: %v, want the namespace the cut left out", err)
		}
	})

	t.Run("a target the state does not hold", func(t *testing.T) {
		var ue *stateindex.UnscopableError
		if _, err := ix.Scope([]string{"kubernetes_config_map.cm[7]"}); !errors.As(err, &ue) {
			t.Fatalf("err %v", err)
		}
	})

	after, err := l.StateVersions(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) || *after[0].VersionId != *before[0].VersionId || *after[0].ETag != *before[0].ETag {
		t.Fatalf("state versions changed: %d -> %d", len(before), len(after))
	}
	ix2, _, err := stateindex.NewSource(client, loc).Load(ctx)
	if err != nil || ix2.Serial != ix.Serial || ix2.Lineage != ix.Lineage {
		t.Fatalf("serial %d lineage %s, want %d %s (%v)", ix2.Serial, ix2.Lineage, ix.Serial, ix.Lineage, err)
	}
	if locks, err := l.StateVersions(ctx, key+".tflock"); err != nil || len(locks) != len(locksBefore) {
		t.Fatalf("lock object versions %d, before the plans %d (%v): a plan took the lock", len(locks), len(locksBefore), err)
	}
}

// changed lists the managed addresses a plan changes (any action but
// no-op), sorted.
func changed(p *tfjson.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rc := range p.ResourceChanges {
		if rc.Mode == tfjson.ManagedResourceMode && !rc.Change.Actions.NoOp() {
			out = append(out, rc.Address)
		}
	}
	sort.Strings(out)
	return out
}

// samePlan compares the resource changes and drift of two plans.
func samePlan(a, b *tfjson.Plan) string {
	if (a == nil) != (b == nil) {
		return "one plan is nil"
	}
	if a == nil {
		return ""
	}
	for _, pair := range [][2][]*tfjson.ResourceChange{{a.ResourceChanges, b.ResourceChanges}, {a.ResourceDrift, b.ResourceDrift}} {
		x, y := byAddress(pair[0]), byAddress(pair[1])
		if !reflect.DeepEqual(x, y) {
			xj, _ := json.Marshal(x)
			yj, _ := json.Marshal(y)
			return "backend's state: " + string(xj) + "\nscoped state: " + string(yj)
		}
	}
	return ""
}

func byAddress(rcs []*tfjson.ResourceChange) map[string]*tfjson.ResourceChange {
	m := map[string]*tfjson.ResourceChange{}
	for _, rc := range rcs {
		m[rc.Address] = rc
	}
	return m
}
