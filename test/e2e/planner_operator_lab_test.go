package e2e_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

// TestOperatorDBLab: the operator-db example on the real CloudNativePG CRDs
// next to the stand-in CNPG operator, with OpenTofu and Terraform. The API
// server fills the CRD schema's defaults, the operator defaults more and
// writes the status: none of it is Terraform's, so the planner counts the
// operator's writes as ignored (never alerted), attributed to the operator,
// and the gate passes. A person's `kubectl edit` of spec.instances, a field
// Terraform sets, is still changed; so is a controller's forced apply of it.
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
			// The real CRD's schema defaults are on the live object, and
			// neither they nor the operator's fields made the gate fail.
			live, err := l.Dynamic().Resource(clusterGVR).Namespace(ns).Get(ctx, "marketplace-db", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range [][]string{{"spec", "enablePDB"}, {"spec", "smartShutdownTimeout"}, {"spec", "primaryUpdateMethod"}} {
				if _, ok, _ := unstructured.NestedFieldNoCopy(live.Object, f...); !ok {
					t.Fatalf("the API server did not default %v from the CRD schema: the CRD is not the real one", f)
				}
			}

			m = s.mark()
			kubectlEdit(t, l, ns, "clusters.postgresql.cnpg.io/marketplace-db", `0,/^  instances: [0-9]*$/s//  instances: 5/`)
			r := s.wait(m, 2*time.Minute, "drift.detected changed for the kubectl edit", detected("kubectl_manifest.cluster", events.ClassChanged))
			f := r.Data.(*events.DriftDetected).Finding
			if !slices.Contains(f.Paths, "spec.instances") || len(f.Attribution) == 0 || f.Attribution[0].Manager != "kubectl-edit" {
				t.Fatalf("kubectl edit of spec.instances: finding %+v, want spec.instances changed by kubectl-edit", f)
			}
			t.Logf("changed: %v by %s", f.Paths, f.Attribution[0].Manager)

			// A controller takes spec.instances with a forced server-side
			// apply. The configuration sets that field, so a controller's
			// write is drift like a person's: changed, the controller named.
			const scaler = "instance-autoscaler-controller"
			m = s.mark()
			take := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
				"metadata": map[string]any{"name": "marketplace-db", "namespace": ns},
				"spec":     map[string]any{"instances": int64(4)},
			}}
			if _, err := l.Dynamic().Resource(clusterGVR).Namespace(ns).Apply(ctx, "marketplace-db", take,
				metav1.ApplyOptions{FieldManager: scaler, Force: true}); err != nil {
				t.Fatal(err)
			}
			r = s.wait(m, 2*time.Minute, "drift.detected changed by "+scaler, func(d events.Data) bool {
				dd, ok := d.(*events.DriftDetected)
				return ok && dd.Finding.Address == "kubectl_manifest.cluster" && dd.Finding.Class == events.ClassChanged &&
					slices.ContainsFunc(dd.Finding.Attribution, func(a events.Attribution) bool { return a.Manager == scaler })
			})
			f = r.Data.(*events.DriftDetected).Finding
			if !slices.Contains(f.Paths, "spec.instances") {
				t.Fatalf("%s took spec.instances: finding %+v, want spec.instances changed", scaler, f)
			}
			t.Logf("changed: %v by %v (%s)", f.Paths, f.Attribution, r.Data.(*events.DriftDetected).Reason)
		})
	}
}

var clusterGVR = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}

// kubectlEdit runs the real `kubectl edit` on object (TYPE/NAME) in ns, with
// an editor that applies the sed expression to the file kubectl opens.
func kubectlEdit(t testing.TB, l *lab.Lab, ns, object, sedExpr string) {
	t.Helper()
	editor := filepath.Join(t.TempDir(), "editor.sh")
	script := "#!/bin/sh\nexec sed -i -e '" + sedExpr + "' \"$1\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("kubectl", "-n", ns, "edit", object)
	cmd.Env = append(toolEnv(l), "EDITOR="+editor, "KUBE_EDITOR="+editor)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl edit %s: %v\n%s", object, err, out)
	}
}

func dumpReport(r *gate.Report) string {
	var b bytes.Buffer
	_ = r.Write(&b, "text")
	return b.String()
}
