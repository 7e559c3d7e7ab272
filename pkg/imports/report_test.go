package imports

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

func TestBuildReport(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	obj := func(group, kind, name string) events.ObjectRef {
		return events.ObjectRef{Cluster: "lab", Group: group, Version: "v1", Kind: kind, Namespace: "shop", Name: name}
	}
	f := func(addr, class, risk string, o events.ObjectRef) events.Finding {
		return events.Finding{ID: events.FindingID("shop", addr, class), Workspace: "shop", Address: addr, Class: class, Risk: risk,
			Object: o, State: events.StateOpen, ImportID: "shop/" + o.Name}
	}
	db := f("kubectl_manifest.db", events.ClassUnimported, events.RiskHigh, obj("postgresql.cnpg.io", "Cluster", "db"))
	web := f("kubernetes_deployment.web", events.ClassUnimported, events.RiskLow, obj("apps", "Deployment", "web"))
	api := f("kubernetes_deployment.api", events.ClassUnimported, events.RiskLow, obj("apps", "Deployment", "api"))
	svc := f("kubernetes_service.web", events.ClassUnimported, events.RiskLow, obj("", "Service", "web"))
	app := f("kubernetes_config_map.argo", events.ClassUnimported, events.RiskLow, obj("", "ConfigMap", "argo"))
	gone := f("kubernetes_secret.creds", events.ClassDeleted, events.RiskHigh, obj("", "Secret", "creds"))
	changed := f("kubernetes_config_map.x", events.ClassChanged, events.RiskLow, obj("", "ConfigMap", "x"))
	// A resource outside the cluster (a mixed workspace's local_file): no object.
	file := f("local_file.app_env", events.ClassDeleted, events.RiskLow, events.ObjectRef{Cluster: "lab"})
	file.ImportID, file.Attribution = "", []events.Attribution{{Manager: "outside the cluster"}}
	inv := map[string]*events.InventoryRecord{
		events.InventoryKey(web.Object): {Managers: []events.PathOwner{
			{Attribution: events.Attribution{Manager: "kube-controller-manager", Operation: "Update", Time: ptr(t0.Add(time.Minute))}},
			{Attribution: events.Attribution{Manager: "kubectl-create", Operation: "Update", Time: ptr(t0)}}}},
		events.InventoryKey(app.Object): {Owners: events.OwnerHints{ArgoCD: "shop-app"}},
	}
	rep := BuildReport(ReportInput{
		Workspace: "shop", Findings: []events.Finding{web, db, api, svc, app, gone, changed, file}, Inventory: inv, Now: t0,
		Requests: []*Request{{ID: "ir-api", FindingID: api.ID, Status: StatusRolledBack, Step: "verify", Reason: "not clean",
			Diff: []string{"kubernetes_deployment.api: spec.selector.matchLabels.app: \"a\" -> \"b\""}}},
		Predictions: map[string][]string{
			web.Address: {},
			db.Address:  {"kubectl_manifest.db: spec.instances: 3 -> 1"},
			svc.Address: {"kubernetes_service.web: a: 1 -> 2", "kubernetes_service.web: b: 1 -> 2",
				"kubernetes_service.web: c: 1 -> 2", "kubernetes_service.web: d: 1 -> 2", "kubernetes_service.web: e: 1 -> 2", "kubernetes_service.web: f: 1 -> 2"},
		},
	})
	want := map[string]struct {
		action string
		order  int
		why    string
	}{
		db.Address:   {ActionImport, 1, "align the configuration"},
		web.Address:  {ActionImport, 2, "created by kubectl-create (Update) at 2026-11-01T10:00:00Z"},
		api.Address:  {ActionDeleteAndRecreate, 0, "immutable field"},
		svc.Address:  {ActionDeleteAndRecreate, 0, "far from the configuration"},
		app.Address:  {ActionRemoveFromConfig, 0, "Argo CD application shop-app"},
		gone.Address: {ActionRecreate, 0, "restore its data"},
		file.Address: {ActionRecreate, 0, "outside the cluster"},
	}
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rows), len(want), rep.Rows)
	}
	for _, r := range rep.Rows {
		w, ok := want[r.Address]
		if !ok {
			t.Errorf("unexpected row %s", r.Address)
			continue
		}
		why := strings.Join(r.Rationale, "; ")
		if r.Action != w.action || r.Order != w.order || !strings.Contains(why, w.why) {
			t.Errorf("%s: %s #%d %q, want %s #%d containing %q", r.Address, r.Action, r.Order, why, w.action, w.order, w.why)
		}
	}
	if rep.Rows[0].Address != db.Address {
		t.Errorf("first row %s, want the high-risk %s", rep.Rows[0].Address, db.Address)
	}
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "| 1 | `kubectl_manifest.db` |") || !strings.Contains(b.String(), "**delete-and-recreate**") ||
		!strings.Contains(b.String(), "`local_file.app_env` | - |") {
		t.Errorf("markdown:\n%s", b.String())
	}
}

func ptr[T any](v T) *T { return &v }
