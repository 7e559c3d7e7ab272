package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// staleDepsModule is a namespace and a ConfigMap in it. Applied with
// literal false, the ConfigMap names the namespace by its name, so its
// state records no dependency on it; with literal true (the configuration
// edited since, not applied: same values) it references the namespace
// resource.
func staleDepsModule(ns string, reference bool) string {
	nsExpr := fmt.Sprintf("%q", ns)
	if reference {
		nsExpr = "kubernetes_namespace.ns.metadata[0].name"
	}
	return fmt.Sprintf(`terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" }
  }
  backend "s3" {}
}
provider "kubernetes" {}
resource "kubernetes_namespace" "ns" {
  metadata { name = %q }
}
resource "kubernetes_config_map" "cm" {
  metadata {
    name      = "cm"
    namespace = %s
  }
  data = { a = "1" }
}
`, ns, nsExpr)
}

// TestScopedStateFallbackLab runs the planner on a workspace whose state
// records no dependency of a ConfigMap on its namespace while the
// configuration now references it: the ConfigMap's plan on the scoped state
// would create the namespace, which exists (an unimported finding that is
// not true). The planner must see that (Scoped.Check), plan on the
// backend's state instead, and report the ConfigMap's drift alone; then
// the same drift is planned on the scoped state once an apply has recorded
// the dependency.
func TestScopedStateFallbackLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testScopedStateFallback(t, l, bin) })
	}
}

func testScopedStateFallback(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns := "scoped-fallback-" + string(bin)
	src := t.TempDir()
	write := func(dir string, reference bool) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(staleDepsModule(ns, reference)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(src, false)
	w := l.NewWorkspace(t, src, bin, "scoped-fallback/"+string(bin)+".tfstate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	// The namespace first: nothing orders the two resources yet.
	if err := w.Apply(ctx, tfexec.Target("kubernetes_namespace.ns")); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	write(w.Dir, true)

	cfg := workspaceConfig(l, "stale-deps", w.Dir, bin, ns)
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, cfg, "watcher-1")
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)),
		planner.WithLeaseTTL(5*time.Second), planner.WithStatePoll(time.Second))
	first := s.wait(0, 3*time.Minute, "the startup plan", planCompleted("stale-deps", ""))
	if pc := first.Data.(*events.PlanCompleted); pc.Error != "" || !pc.Full || pc.Counts[events.ClassUnimported] != 0 {
		t.Fatalf("startup plan: %+v", pc)
	}

	// detect patches the ConfigMap and returns the detecting plan's
	// plan.completed once the workspace has settled.
	detect := func(t *testing.T, value string) *events.PlanCompleted {
		t.Helper()
		m := s.mark()
		patch(t, l, "kubectl-edit", "configmaps", ns, "cm", `{"data":{"a":"`+value+`"}}`)
		r := s.wait(m, 2*time.Minute, "drift.detected for the ConfigMap", detected("kubernetes_config_map.cm", events.ClassChanged))
		planID := r.Data.(*events.DriftDetected).PlanID
		pc := s.wait(m, 2*time.Minute, "the detecting plan's plan.completed", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.PlanID == planID
		}).Data.(*events.PlanCompleted)
		waitSettledWS(t, env, s, m, ns, "stale-deps", 2*time.Minute)
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Address != "kubernetes_config_map.cm" {
				t.Errorf("reported %s %s: the scoped plan's create of what exists leaked", dd.Finding.Class, dd.Finding.Address)
			}
		}
		return pc
	}

	t.Run("StaleDependenciesFallBack", func(t *testing.T) {
		pc := detect(t, "2")
		if pc.Full || pc.ScopedState || pc.Error != "" {
			t.Fatalf("the detecting plan: full %v, scoped %v, error %q; want targeted on the backend's state", pc.Full, pc.ScopedState, pc.Error)
		}
	})

	t.Run("RecordedDependenciesAreScoped", func(t *testing.T) {
		m := s.mark()
		apply(t, w) // records the dependency; puts a back to "1"
		s.wait(m, 2*time.Minute, "the ConfigMap's drift resolving", func(d events.Data) bool {
			dr, ok := d.(*events.DriftResolved)
			return ok && dr.Finding.Address == "kubernetes_config_map.cm"
		})
		waitSettledWS(t, env, s, m, ns, "stale-deps", 2*time.Minute)
		pc := detect(t, "3")
		if pc.Full || !pc.ScopedState || pc.Error != "" {
			t.Fatalf("the detecting plan: full %v, scoped %v, error %q; want targeted on the scoped state", pc.Full, pc.ScopedState, pc.Error)
		}
	})
}
