package importer

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/verify"
)

// fixtureLive is the cluster recorded in a 3.2.1 scenario's live/.
type fixtureLive map[string]*events.InventoryRecord

func (l fixtureLive) Get(_ context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	r, ok := l[tfkube.RefKey(o)]
	return r, ok, nil
}

// TestReportProvider321AlreadyExists: the five objects of the recorded
// 01-already-exists scenario, whose config equals live, are "import" in the
// decision table — not delete-and-recreate because the verifier counted the
// imported null manifest as differences — and the dry run's lines for them
// are empty.
func TestReportProvider321AlreadyExists(t *testing.T) {
	dir := "../../testdata/kubernetes-3.2.1/scenarios/01-already-exists"
	files, _ := filepath.Glob(filepath.Join(dir, "live", "*.json"))
	lv, objs := fixtureLive{}, map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if _, absent := m["absent"]; absent {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		gvk := u.GroupVersionKind()
		k := tfkube.IdentityKey(gvk.Group, gvk.Kind, u.GetNamespace(), u.GetName())
		lv[k] = live.ObjectRecord("lab", tfkube.ResourceName(tfkube.GuessPlural(gvk.Kind), gvk.Group), u, time.Now())
		objs[k] = m
	}
	read := func(name string) *tfjson.Plan {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var p tfjson.Plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	res, err := classify.New(classify.Workspace{Name: "pal-e", Cluster: "lab"}, lv).Classify(context.Background(),
		classify.Input{Plan: read("plan.json"), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	after := read("after-import-plan.json")
	in := ReportInput{Workspace: "pal-e", Inventory: map[string]*events.InventoryRecord{}, Predictions: map[string][]string{}}
	for _, r := range res {
		f := r.Finding
		in.Findings = append(in.Findings, f)
		rec := lv[tfkube.RefKey(f.Object)]
		in.Inventory[events.InventoryKey(f.Object)] = rec
		obj := tfkube.Object{Group: f.Object.Group, Version: f.Object.Version, Kind: f.Object.Kind, Namespace: f.Object.Namespace,
			Name: f.Object.Name, Resource: rec.Resource}
		v := verify.Check(onlyAddress(after, f.Address), f.Address, verify.RulesFor(obj, nil, rec.FieldOwners, objs[tfkube.RefKey(f.Object)]))
		in.Predictions[f.Address] = v.Blocking
		if !v.OK() {
			t.Errorf("%s: dry run would roll back: %v", f.Address, v.Blocking)
		}
		if s := strings.Join(v.Blocking, "\n"); strings.Contains(s, tfkube.Redacted+" -> "+tfkube.Redacted) {
			t.Errorf("%s: everything redacted: %s", f.Address, s)
		}
	}
	rep := BuildReport(in)
	if len(rep.Rows) != 5 {
		t.Fatalf("%d rows, want the 5 unimported objects", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if row.Action != ActionImport || len(row.ConfigDiff) != 0 {
			t.Errorf("%s: action %s, config diff %v: %v", row.Address, row.Action, row.ConfigDiff, row.Rationale)
		}
	}
	if rep.Rows[0].Address != "kubernetes_manifest.cnpg_cluster" {
		t.Errorf("the stateful CNPG Cluster is not imported first: %s", rep.Rows[0].Address)
	}
}
