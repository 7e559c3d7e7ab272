package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

const helmAppSrc = "../../examples/helm-app"

// TestPlannerHelmLab runs the watcher and the planner against a Helm
// release installed by OpenTofu with hashicorp/helm 1.3.2 (examples/helm-app:
// a Deployment, Service, ConfigMap and Ingress from a local chart). Neither
// a kubectl patch of a release object nor deleting one shows in the plan;
// driftgate reports them as findings of helm_release.web all the same. A
// Helm upgrade by Terraform itself is not drift, and it resolves both. The
// gate, with no pipeline, reports the same. With OpenTofu and Terraform.
func TestPlannerHelmLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testPlannerHelm(t, l, bin) })
	}
}

func testPlannerHelm(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns, addr := "helm-"+string(bin), "helm_release.web"
	// The token goes to the chart's Secret through set_sensitive: it is in
	// state (sensitive), in the Secret and in Helm's release record, which
	// the gate decodes. It must appear in no event, finding or report.
	const tokenCanary, editCanary = "canary-7f3e-helm-token", "canary-91ab-helm-edit"
	vars := map[string]string{"namespace": `"` + ns + `"`, "greeting": `"hello"`, "api_token": `"` + tokenCanary + `"`}
	w := prepare(t, l, helmAppSrc, bin, "helm/"+string(bin)+".tfstate", vars)
	apply(t, w)

	cfg := workspaceConfig(l, "helm-app", w.Dir, bin, ns)
	cfg.Watch.Resources = append(cfg.Watch.Resources, "ingresses.networking.k8s.io")
	cfg.Workspaces[0].FullPlanInterval = config.Duration{Duration: time.Hour}
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, cfg, "watcher-1")
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)),
		planner.WithLeaseTTL(5*time.Second), planner.WithStatePoll(time.Second))
	first := s.wait(0, 3*time.Minute, "the startup plan", planCompleted("helm-app", ""))
	if pc := first.Data.(*events.PlanCompleted); pc.Error != "" || !pc.Full {
		t.Fatalf("startup plan: %+v", pc)
	}
	store := findings.Store{KV: env.Buckets.Findings}
	ctx := context.Background()

	// alerting lists the open findings of the workspace that alert.
	alerting := func(t *testing.T) []events.Finding {
		t.Helper()
		list, err := store.List(ctx, findings.Filter{Workspace: "helm-app", State: events.StateOpen})
		if err != nil {
			t.Fatal(err)
		}
		var out []events.Finding
		for _, f := range list {
			if findings.Alerting(f.Class) {
				out = append(out, f)
			}
		}
		return out
	}
	if fs := alerting(t); len(fs) != 0 {
		t.Fatalf("the freshly installed release has alerting findings (its objects unmanaged or Helm's fields drift?): %+v", fs)
	}

	// upgrade changes the chart's greeting through Terraform and waits for
	// the plan that covered the new state: a plan after the upgrade's
	// writes reached the planner, with the state the apply wrote.
	upgrade := func(t *testing.T, variable, value string) int {
		t.Helper()
		m := s.mark()
		vars[variable] = value
		setVars(t, w.Dir, vars)
		apply(t, w)
		serial := stateSerial(t, w)
		s.wait(m, 2*time.Minute, "a plan of the upgraded state", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.WS == "helm-app" && pc.Error == "" && pc.StateSerial >= serial
		})
		waitSettledWS(t, env, s, m, ns, "helm-app", 2*time.Minute)
		return m
	}

	t.Run("TerraformUpgradeIsNotDrift", func(t *testing.T) {
		m := upgrade(t, "greeting", `"bonjour"`)
		cm, err := l.Kube().CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
		if err != nil || cm.Data["GREETING"] != "bonjour" {
			t.Fatalf("the upgrade did not reach the ConfigMap: %v %v", cm.Data, err)
		}
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Workspace == "helm-app" &&
				dd.Finding.Class != events.ClassPendingConfig {
				t.Errorf("a Terraform upgrade reported as %s: %+v", dd.Finding.Class, dd.Finding)
			}
		}
		if fs := alerting(t); len(fs) != 0 {
			t.Fatalf("open after the upgrade: %+v", fs)
		}
	})

	var changedID, deletedID string
	t.Run("PatchIsChangedOfTheRelease", func(t *testing.T) {
		m := s.mark()
		patch(t, l, "kubectl-patch", "deployments", ns, "web", `{"spec":{"replicas":3}}`)
		r := s.wait(m, 2*time.Minute, "drift.detected changed of the release", detected(addr, events.ClassChanged))
		waitSettledWS(t, env, s, m, ns, "helm-app", 2*time.Minute)
		f := r.Data.(*events.DriftDetected).Finding
		if f.Object.Kind != "Deployment" || f.Object.Name != "web" || f.Object.Namespace != ns ||
			!slices.Equal(f.Paths, []string{"spec.replicas"}) || len(f.Attribution) != 1 || f.Attribution[0].Manager != "kubectl-patch" {
			t.Fatalf("finding %+v", f)
		}
		fs := alerting(t)
		if len(fs) != 1 || fs[0].ID != f.ID {
			t.Fatalf("want exactly the one changed finding open, got %+v", fs)
		}
		changedID = f.ID
	})

	t.Run("DeletedObjectIsDeletedOfTheRelease", func(t *testing.T) {
		m := s.mark()
		if err := l.Kube().NetworkingV1().Ingresses(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := s.wait(m, 2*time.Minute, "drift.detected deleted of the release", detected(addr, events.ClassDeleted))
		waitSettledWS(t, env, s, m, ns, "helm-app", 2*time.Minute)
		f := r.Data.(*events.DriftDetected).Finding
		if f.Object.Kind != "Ingress" || f.Object.Group != "networking.k8s.io" || f.Object.Name != "web" || f.Object.Namespace != ns {
			t.Fatalf("finding %+v", f)
		}
		fs := alerting(t)
		ids := []string{}
		for _, x := range fs {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		want := []string{changedID, f.ID}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Fatalf("open: %+v, want the changed and the deleted finding", fs)
		}
		deletedID = f.ID
	})

	t.Run("GateReportsTheReleaseDrift", func(t *testing.T) {
		// driftgate gate has no pipeline: it reads Helm's record of the
		// release from the cluster and finds the same two findings.
		rep := runGate(t, l, cfg)
		var got []string
		for _, f := range rep.Findings {
			got = append(got, f.Class+" "+f.Address+" "+f.Object.Kind+" "+strings.Join(f.Paths, ","))
		}
		slices.Sort(got)
		want := []string{"changed helm_release.web Deployment spec.replicas", "deleted helm_release.web Ingress "}
		if rep.Clean || !slices.Equal(got, want) {
			t.Fatalf("gate: clean=%v findings %q, want %q", rep.Clean, got, want)
		}
	})

	t.Run("UpgradeRestoresTheRelease", func(t *testing.T) {
		if changedID == "" || deletedID == "" {
			t.Fatal("needs the two findings above, which the subtests before did not produce")
		}
		// Helm's upgrade merges three ways: it sets spec.replicas back and
		// creates the missing Ingress, so both findings resolve.
		m := upgrade(t, "greeting", `"hola"`)
		s.wait(m, 2*time.Minute, "the changed finding resolving", resolved(changedID))
		s.wait(m, 2*time.Minute, "the deleted finding resolving", resolved(deletedID))
		if fs := alerting(t); len(fs) != 0 {
			t.Fatalf("open after the upgrade: %+v", fs)
		}
		if rep := runGate(t, l, cfg); !rep.Clean {
			t.Fatalf("the gate fails after the upgrade: %+v", rep.Findings)
		}
	})

	t.Run("SecretChangeLeavesNoValue", func(t *testing.T) {
		m := s.mark()
		patch(t, l, "kubectl-edit", "secrets", ns, "web-token",
			`{"data":{"API_TOKEN":"`+base64.StdEncoding.EncodeToString([]byte(editCanary))+`"}}`)
		r := s.wait(m, 2*time.Minute, "drift.detected changed of the release's Secret", func(d events.Data) bool {
			dd, ok := d.(*events.DriftDetected)
			return ok && dd.Finding.Address == addr && dd.Finding.Class == events.ClassChanged && dd.Finding.Object.Kind == "Secret"
		})
		f := r.Data.(*events.DriftDetected).Finding
		if !slices.Equal(f.Paths, []string{"data.API_TOKEN"}) || f.Risk != events.RiskHigh || f.Attribution[0].Manager != "kubectl-edit" {
			t.Fatalf("finding %+v", f)
		}
		rep := runGate(t, l, cfg)
		var out strings.Builder
		if err := rep.Write(&out, "json"); err != nil {
			t.Fatal(err)
		}
		list, err := store.List(ctx, findings.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, canary := range []string{tokenCanary, editCanary} {
			for _, leak := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
				for _, rec := range s.since(0) {
					if strings.Contains(string(rec.Raw), leak) {
						t.Fatalf("a secret value is in the stream: %s", rec.Subject)
					}
				}
				if strings.Contains(fmt.Sprint(list), leak) || strings.Contains(out.String(), leak) {
					t.Fatal("a secret value is in the findings or the gate's report")
				}
			}
		}
		m = s.mark()
		upgrade(t, "greeting", `"ciao"`) // Helm sets the token back
		s.wait(m, 2*time.Minute, "the Secret's finding resolving", resolved(f.ID))
	})

	t.Run("ChartDroppingAnObjectIsNotDrift", func(t *testing.T) {
		// ingress = false: the upgrade deletes the Ingress on purpose.
		m := upgrade(t, "ingress", "false")
		if _, err := l.Kube().NetworkingV1().Ingresses(ns).Get(ctx, "web", metav1.GetOptions{}); err == nil {
			t.Fatal("the upgrade left the Ingress")
		}
		transient := 0
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Workspace == "helm-app" && dd.Finding.Class == events.ClassDeleted {
				transient++
			}
		}
		t.Logf("deleted findings opened while the apply ran: %d", transient)
		if fs := alerting(t); len(fs) != 0 {
			t.Fatalf("open after an upgrade that dropped the Ingress: %+v", fs)
		}
		if rep := runGate(t, l, cfg); !rep.Clean {
			t.Fatalf("the gate fails after the upgrade: %+v", rep.Findings)
		}
	})
}

// runGate runs driftgate gate on the helm-app workspace.
func runGate(t *testing.T, l *lab.Lab, cfg *config.File) *gate.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := gate.Run(ctx, gate.Options{Config: cfg, Workspace: "helm-app", DataDir: t.TempDir(), Environ: toolEnv(l),
		Kube: l.RESTConfig(), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// stateSerial reads the serial of the workspace's state.
func stateSerial(t *testing.T, w *lab.Workspace) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := w.TF.StatePull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Serial int64 `json:"serial"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	return st.Serial
}

// waitSettledWS waits until the planner has handled every change reported
// so far, has nothing pending, and a plan of ws completed after the last
// object.changed of ns since mark.
func waitSettledWS(t *testing.T, env *eventstest.Env, s *stream, mark int, ns, ws string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		env.WaitConsumed(t, "planner", time.Until(deadline))
		lastChange, lastPlan := 0, 0
		for i, rec := range s.since(mark) {
			switch d := rec.Data.(type) {
			case *events.ObjectChanged:
				if d.Object.Namespace == ns {
					lastChange = i
				}
			case *events.PlanCompleted:
				if d.WS == ws {
					lastPlan = i
				}
			}
		}
		if pendingLeft(t, env) == 0 && lastPlan > lastChange {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled within %s: %d pending changes\n%s", timeout, pendingLeft(t, env), s.describe(mark))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
