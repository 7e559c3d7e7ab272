package e2e_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

const (
	mixedSrc   = "../../examples/mixed"
	mixedCM    = "kubernetes_config_map.app"
	mixedFile  = "local_file.app_env"
	mixedWSKey = "mixed/tofu.tfstate"
)

// TestMixedWorkspaceLab runs examples/mixed — Kubernetes objects beside a
// hashicorp/local local_file — through driftgate gate and through the
// pipeline (the real watcher and planner) with OpenTofu: a clean gate
// after apply; a ConfigMap change is planned with -target on the
// Kubernetes address only, and that plan does not refresh the file even
// though it was edited (the planner's targets replayed with the real tool
// show no drift of the file; the full plan does); the next full plan
// reports the edited file as deleted, outside the cluster, with no object;
// apply resolves it without waiting for the full-plan interval; the gate
// reports a deleted file the same way.
func TestMixedWorkspaceLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	const ns = "mixed"
	files := t.TempDir()
	vars := map[string]string{"namespace": `"` + ns + `"`, "files_dir": `"` + files + `"`}
	w := prepare(t, l, mixedSrc, lab.Tofu, mixedWSKey, vars)
	apply(t, w)
	envFile := filepath.Join(files, ns+".env")
	want, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("apply wrote no file: %v", err)
	}
	cfg := workspaceConfig(l, "mixed", w.Dir, lab.Tofu, ns)
	cfg.Workspaces[0].FullPlanInterval = config.Duration{Duration: time.Hour} // full plans only at startup
	gateData := t.TempDir()
	runGate := func(t *testing.T) *gate.Report {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		r, err := gate.Run(ctx, gate.Options{Config: cfg, Workspace: "mixed", DataDir: gateData,
			Environ: toolEnv(l), Kube: l.RESTConfig(), Log: quietLog()})
		if err != nil {
			t.Fatalf("gate: %v", err)
		}
		return r
	}

	t.Run("GateCleanAfterApply", func(t *testing.T) {
		if r := runGate(t); !r.Clean || len(r.Findings) != 0 || r.Plan.Resources != 3 {
			t.Fatalf("want a clean gate over 3 resources:\n%s", gateText(r))
		}
	})

	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, cfg, "watcher-1")
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)), planner.WithStatePoll(time.Second))
	if pc := s.wait(0, 3*time.Minute, "the startup plan", planCompleted("mixed", "")).Data.(*events.PlanCompleted); pc.Error != "" || !pc.Full {
		t.Fatalf("startup plan: %+v", pc)
	}
	for _, rec := range s.since(0) {
		if dd, ok := rec.Data.(*events.DriftDetected); ok {
			t.Fatalf("drift right after apply: %+v", dd.Finding)
		}
	}

	t.Run("TargetedPlanDoesNotRefreshTheFile", func(t *testing.T) {
		// The state index, which maps a changed object to the addresses a
		// plan targets, holds the Kubernetes addresses only.
		raw, err := w.TF.StatePull(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ix, err := stateindex.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		var indexed []string
		for _, e := range ix.Entries() {
			indexed = append(indexed, e.Address)
		}
		slices.Sort(indexed)
		if !slices.Equal(indexed, []string{mixedCM, "kubernetes_namespace.mixed"}) {
			t.Fatalf("state index holds %v", indexed)
		}
		m := s.mark()
		if err := os.WriteFile(envFile, []byte("LOG_LEVEL=trace\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		patch(t, l, "kubectl-edit", "configmaps", ns, "app-config", `{"data":{"LOG_LEVEL":"debug"}}`)
		dd := s.wait(m, 2*time.Minute, "drift.detected for the ConfigMap", detected(mixedCM, events.ClassChanged)).Data.(*events.DriftDetected)
		if f := dd.Finding; !slices.Equal(f.Paths, []string{"data.LOG_LEVEL"}) || len(f.Attribution) == 0 || f.Attribution[0].Manager != "kubectl-edit" {
			t.Fatalf("ConfigMap finding %+v", f)
		}
		pc := s.wait(m, 2*time.Minute, "the plan that found it", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.PlanID == dd.PlanID
		}).Data.(*events.PlanCompleted)
		if pc.Full || pc.Trigger != planner.TriggerChange || !slices.Equal(pc.Targets, []string{mixedCM}) {
			t.Fatalf("the change was planned as %+v, want a plan targeted at %s only", pc, mixedCM)
		}
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Address == mixedFile {
				t.Fatalf("a targeted plan reported the file: %+v", dd.Finding)
			}
		}
		// The same plan by hand, from its content: the file is edited, yet
		// a plan with the planner's targets has no drift of it; a full plan
		// has.
		// (-target plans what a target depends on too: the namespace.)
		if drift := driftAddresses(t, w, tfexec.Target(mixedCM)); !slices.Contains(drift, mixedCM) || slices.Contains(drift, mixedFile) {
			t.Fatalf("targeted plan's resource_drift %v, want %s and not %s", drift, mixedCM, mixedFile)
		}
		if drift := driftAddresses(t, w); !slices.Contains(drift, mixedFile) {
			t.Fatalf("full plan's resource_drift %v has no %s", drift, mixedFile)
		}
	})

	t.Run("NextFullPlanReportsTheEditedFile", func(t *testing.T) {
		// A change of an object in no state is planned in full (which
		// address could create it is unknown): a ConfigMap made by hand
		// brings the next full plan an hour early.
		m := s.mark()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hand-made", Namespace: ns}}
		if _, err := l.Kube().CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
		dd := s.wait(m, 3*time.Minute, "drift.detected for the file", detected(mixedFile, events.ClassDeleted)).Data.(*events.DriftDetected)
		f := dd.Finding
		if f.Object != (events.ObjectRef{Cluster: "lab"}) || len(f.Attribution) != 1 || f.Attribution[0].Manager != classify.OutsideCluster ||
			f.RecommendedAction != classify.ActionRecreate || !strings.Contains(dd.Reason, "hashicorp/local") {
			t.Fatalf("file finding %+v (%s)", f, dd.Reason)
		}
		pc := s.wait(m, 2*time.Minute, "the full plan", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.PlanID == dd.PlanID
		}).Data.(*events.PlanCompleted)
		if !pc.Full || pc.Error != "" {
			t.Fatalf("found by %+v, want a full plan", pc)
		}
		if err := l.Kube().CoreV1().ConfigMaps(ns).Delete(context.Background(), "hand-made", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}

		// apply writes the file and reverts the ConfigMap: the state
		// changes, and the findings are planned again at once (the file's
		// in full: a targeted plan would not refresh it), not at the next
		// full-plan interval an hour away.
		m = s.mark()
		apply(t, w)
		r := s.wait(m, 3*time.Minute, "the file's finding resolving", resolved(f.ID)).Data.(*events.DriftResolved)
		if pc := s.wait(m, 2*time.Minute, "the plan that resolved it", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.PlanID == r.PlanID
		}).Data.(*events.PlanCompleted); !pc.Full || pc.Trigger != planner.TriggerChange {
			t.Fatalf("resolved by %+v, want the full plan after the state change", pc)
		}
		if got, err := os.ReadFile(envFile); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after apply the file holds %q (%v), want %q", got, err, want)
		}
	})

	t.Run("GateReportsADeletedFile", func(t *testing.T) {
		if err := os.Remove(envFile); err != nil {
			t.Fatal(err)
		}
		r := runGate(t)
		if r.Clean || len(r.Findings) != 1 || r.ExitCode() != gate.ExitDrift {
			t.Fatalf("want one failing finding:\n%s", gateText(r))
		}
		f := r.Findings[0]
		if f.Address != mixedFile || f.Class != events.ClassDeleted || f.Object.Kind != "" || len(f.Attribution) != 1 || f.Attribution[0].Manager != classify.OutsideCluster {
			t.Fatalf("finding %+v", f)
		}
		text := gateText(r)
		var md bytes.Buffer
		if err := r.Write(&md, "markdown"); err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{text, md.String()} {
			if !strings.Contains(out, mixedFile) || !strings.Contains(out, classify.OutsideCluster) {
				t.Errorf("report does not name the file and where it changed:\n%s", out)
			}
		}
		t.Logf("gate:\n%s%s", text, md.String())
		apply(t, w)
		if r := runGate(t); !r.Clean {
			t.Fatalf("after apply:\n%s", gateText(r))
		}
	})
}

// driftAddresses plans w with opts and returns the addresses in the plan's
// resource_drift.
func driftAddresses(t *testing.T, w *lab.Workspace, opts ...tfexec.PlanOption) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := w.PlanJSON(ctx, append(opts, tfexec.Lock(false))...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range p.ResourceDrift {
		if d.Mode == tfjson.ManagedResourceMode {
			out = append(out, d.Address)
		}
	}
	slices.Sort(out)
	return out
}

func gateText(r *gate.Report) string {
	var b bytes.Buffer
	_ = r.Write(&b, "text")
	return b.String()
}
