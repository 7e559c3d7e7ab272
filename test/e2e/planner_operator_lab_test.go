package e2e_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

// TestOperatorDBLab: the operator-db example next to the stand-in CNPG
// operator, with OpenTofu and Terraform. The operator's defaults and status
// are not Terraform's: the planner counts them as ignored (never alerted),
// attributed to the operator, and the gate passes.
func TestOperatorDBLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	ctx := context.Background()
	if err := operator.InstallCRDs(ctx, l.Dynamic()); err != nil {
		t.Fatal(err)
	}
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) {
			ns := "db-" + string(bin)
			w := prepare(t, l, "../../examples/operator-db", bin, "opdb/"+string(bin)+".tfstate", map[string]string{"namespace": `"` + ns + `"`})
			apply(t, w)
			cfg := workspaceConfig(l, "operator-db", w.Dir, bin, ns)
			cfg.Watch.Resources = append(cfg.Watch.Resources, "clusters.postgresql.cnpg.io", "scheduledbackups.postgresql.cnpg.io")

			env := eventstest.Start(t)
			s := collect(t, env)
			startWatcher(t, env, cfg, "watcher-1")
			startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)), planner.WithStatePoll(time.Second))
			s.wait(0, 3*time.Minute, "the startup plan", planCompleted("operator-db", ""))

			m := s.mark()
			octx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- operator.New(l.Dynamic(), operator.WithNamespace(ns), operator.WithLogger(quietLog())).Run(octx)
			}()
			defer func() { cancel(); <-done }()

			store := findings.Store{KV: env.Buckets.Findings}
			deadline := time.Now().Add(2 * time.Minute)
			var ignored events.Finding
			for ignored.ID == "" {
				if time.Now().After(deadline) {
					t.Fatalf("no ignored finding for the operator's defaults:\n%s", s.describe(m))
				}
				time.Sleep(time.Second)
				list, err := store.List(ctx, findings.Filter{Workspace: "operator-db", Class: events.ClassIgnored})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range list {
					if f.Address == "kubectl_manifest.cluster" {
						ignored = f
					}
				}
			}
			if len(ignored.Attribution) == 0 || ignored.Attribution[0].Manager != operator.FieldManager || len(ignored.Paths) == 0 {
				t.Fatalf("ignored finding %+v, want paths owned by %s", ignored, operator.FieldManager)
			}
			t.Logf("ignored: %v by %s", ignored.Paths, ignored.Attribution[0].Manager)
			for _, rec := range s.since(m) {
				if dd, ok := rec.Data.(*events.DriftDetected); ok {
					t.Errorf("the operator's fields raised an alert: %s %s %v", dd.Finding.Class, dd.Finding.Address, dd.Finding.Paths)
				}
			}
			gctx, gcancel := context.WithTimeout(ctx, 5*time.Minute)
			defer gcancel()
			rep, err := gate.Run(gctx, gate.Options{Config: cfg, Workspace: "operator-db", DataDir: t.TempDir(), Environ: toolEnv(l),
				Kube: l.RESTConfig(), Log: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Clean {
				t.Fatalf("the gate fails on operator-owned fields:\n%s", dumpReport(rep))
			}
		})
	}
}

func dumpReport(r *gate.Report) string {
	var b bytes.Buffer
	_ = r.Write(&b, "text")
	return b.String()
}
