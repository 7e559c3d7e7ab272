package e2e_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/controllers/churn"
	"github.com/driftgate/driftgate/test/lab"
)

// TestPlannerLab runs the planner service with the real watcher against the
// lab, with OpenTofu and with Terraform: a patch becomes changed with its
// manager and resolves after apply; a Secret change leaves no value in the
// stream; a deleted object; an unapplied config edit is pending-config; a
// burst of 200 changes is a handful of plans accounting for every change;
// an Argo-style label fight is one churn finding; objects created live in a
// workspace's namespace with empty state are unimported with import IDs.
func TestPlannerLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testPlanner(t, l, bin) })
	}
}

func testPlanner(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns, fresh := "svc-"+string(bin), "svc-fresh-"+string(bin)
	vars := map[string]string{"namespace": `"` + ns + `"`}
	seed := prepare(t, l, marketplaceSrc, bin, "svc/"+string(bin)+"/seed.tfstate", vars)
	apply(t, seed)
	empty := prepare(t, l, marketplaceSrc, bin, "svc/"+string(bin)+"/fresh.tfstate", map[string]string{"namespace": `"` + fresh + `"`})

	cfg := workspaceConfig(l, "marketplace", seed.Dir, bin, ns)
	cfg.Workspaces[0].FullPlanInterval = config.Duration{Duration: 20 * time.Second}
	second := cfg.Workspaces[0]
	second.Name, second.Dir, second.Namespaces = "fresh", empty.Dir, []string{fresh}
	second.FullPlanInterval = config.Duration{Duration: time.Hour}
	cfg.Workspaces = append(cfg.Workspaces, second)
	cfg.Watch.Namespaces = []string{ns, fresh}

	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, cfg, "watcher-1")
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)),
		planner.WithLeaseTTL(5*time.Second), planner.WithStatePoll(time.Second))
	first := s.wait(0, 3*time.Minute, "the startup plan", planCompleted("marketplace", ""))
	if pc := first.Data.(*events.PlanCompleted); pc.Error != "" || !pc.Full {
		t.Fatalf("startup plan: %+v", pc)
	}
	// fresh's startup plan reports its creates as pending-config (nothing
	// is live yet); the subtests judge what comes after it.
	s.wait(0, 3*time.Minute, "fresh's startup plan", planCompleted("fresh", ""))
	// The kinds in state, for a watcher with watch.resources [auto].
	var sk events.StateKinds
	if _, ok, err := events.GetJSON(context.Background(), env.Buckets.State, events.StateKindsKey("marketplace"), &sk); err != nil || !ok ||
		sk.Cluster != "lab" || !slices.Contains(sk.Resources, "deployment.apps") || !slices.Contains(sk.Resources, "configmap") {
		t.Fatalf("state kinds: %+v %v %v", sk, ok, err)
	}
	store := findings.Store{KV: env.Buckets.Findings}

	t.Run("PatchIsChangedThenResolved", func(t *testing.T) {
		m := s.mark()
		patch(t, l, "kubectl-patch", "deployments", ns, "marketplace", `{"spec":{"replicas":5}}`)
		r := s.wait(m, 2*time.Minute, "drift.detected changed", detected("kubernetes_deployment.marketplace", events.ClassChanged))
		f := r.Data.(*events.DriftDetected).Finding
		if len(f.Paths) != 1 || f.Paths[0] != "spec.replicas" || len(f.Attribution) == 0 || f.Attribution[0].Manager != "kubectl-patch" {
			t.Fatalf("finding %+v", f)
		}
		kept, ok, err := store.Get(context.Background(), f.ID)
		if err != nil || !ok || kept.State != events.StateOpen {
			t.Fatalf("findings bucket: %+v %v %v", kept, ok, err)
		}
		// Targeted plans run on a scoped state by default (nothing here
		// makes this one fall back).
		planID := r.Data.(*events.DriftDetected).PlanID
		pc := s.wait(m, 2*time.Minute, "the detecting plan's plan.completed", func(d events.Data) bool {
			pc, ok := d.(*events.PlanCompleted)
			return ok && pc.PlanID == planID
		}).Data.(*events.PlanCompleted)
		if !pc.Full && !pc.ScopedState {
			t.Errorf("the targeted plan %s did not run on a scoped state", planID)
		}
		m = s.mark()
		apply(t, seed)
		s.wait(m, 2*time.Minute, "drift.resolved", resolved(f.ID))
	})

	t.Run("SecretChangeLeavesNoValue", func(t *testing.T) {
		const canary = "canary-4d2b-secret-value"
		m := s.mark()
		patch(t, l, "kubectl-edit", "secrets", ns, "marketplace-db",
			`{"data":{"DATABASE_URL":"`+base64.StdEncoding.EncodeToString([]byte(canary))+`"}}`)
		r := s.wait(m, 2*time.Minute, "drift.detected for the Secret", detected("kubernetes_secret.marketplace", events.ClassChanged))
		id := r.Data.(*events.DriftDetected).Finding.ID
		m2 := s.mark()
		apply(t, seed)
		s.wait(m2, 2*time.Minute, "drift.resolved for the Secret", resolved(id))
		for _, rec := range s.since(0) {
			for _, leak := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))} {
				if strings.Contains(string(rec.Raw), leak) {
					t.Fatalf("the Secret's value is in the stream: %s", rec.Subject)
				}
			}
		}
		list, err := store.List(context.Background(), findings.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(fmt.Sprint(list), canary) {
			t.Fatal("the Secret's value is in the findings bucket")
		}
	})

	t.Run("DeletedObject", func(t *testing.T) {
		m := s.mark()
		if err := l.Kube().CoreV1().ConfigMaps(ns).Delete(context.Background(), "marketplace-config", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := s.wait(m, 2*time.Minute, "drift.detected deleted", detected("kubernetes_config_map.marketplace", events.ClassDeleted))
		m = s.mark()
		apply(t, seed)
		s.wait(m, 2*time.Minute, "drift.resolved", resolved(r.Data.(*events.DriftDetected).Finding.ID))
	})

	t.Run("UnappliedConfigEditIsPendingConfig", func(t *testing.T) {
		m := s.mark()
		setVars(t, seed.Dir, map[string]string{"namespace": `"` + ns + `"`, "marketplace_replicas": "3"})
		r := s.wait(m, 2*time.Minute, "pending-config", detected("kubernetes_deployment.marketplace", events.ClassPendingConfig))
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Class == events.ClassChanged {
				t.Fatalf("a config edit reported as drift: %+v", dd.Finding)
			}
		}
		m = s.mark()
		setVars(t, seed.Dir, vars)
		s.wait(m, 2*time.Minute, "the edit's finding resolving", resolved(r.Data.(*events.DriftDetected).Finding.ID))
	})

	t.Run("HandMadeObjectIsUnmanaged", func(t *testing.T) {
		ctx := context.Background()
		m := s.mark()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hand-made", Namespace: ns}, Data: map[string]string{"k": "v"}}
		if _, err := l.Kube().CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
		unmanaged := func(d events.Data) bool {
			dd, ok := d.(*events.DriftDetected)
			return ok && dd.Finding.Class == events.ClassUnmanaged && dd.Finding.Object.Name == "hand-made"
		}
		r := s.wait(m, 2*time.Minute, "drift.detected unmanaged", unmanaged)
		f := r.Data.(*events.DriftDetected).Finding
		if f.Workspace != "marketplace" || f.Address != "" || f.Object.Kind != "ConfigMap" || f.RecommendedAction != "adopt-or-ignore" ||
			len(f.Attribution) == 0 || f.Attribution[0].Manager != "kubectl-create" {
			t.Fatalf("unmanaged finding %+v", f)
		}
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Object.Name == "kube-root-ca.crt" {
				t.Fatalf("a system object reported: %+v", dd.Finding)
			}
		}
		m = s.mark()
		if err := l.Kube().CoreV1().ConfigMaps(ns).Delete(ctx, "hand-made", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		s.wait(m, 2*time.Minute, "the unmanaged finding resolving", resolved(f.ID))
	})

	t.Run("BurstIsAHandfulOfPlans", func(t *testing.T) {
		quiesce(t, env)
		m := s.mark()
		const n = 200
		objs := []struct{ res, name string }{{"deployments", "marketplace"}, {"configmaps", "marketplace-config"}, {"services", "marketplace"}, {"deployments", "recommendations"}}
		for i := 0; i < n; i++ {
			o := objs[i%len(objs)]
			patch(t, l, "kubectl-annotate", o.res, ns, o.name, fmt.Sprintf(`{"metadata":{"annotations":{"burst":"%d"}}}`, i))
		}
		waitSettled(t, env, s, m, ns, 3*time.Minute)
		changes, plans, accounted := 0, 0, 0
		for _, rec := range s.since(m) {
			switch d := rec.Data.(type) {
			case *events.ObjectChanged:
				if d.Object.Namespace == ns {
					changes++
				}
			case *events.PlanCompleted:
				if d.WS == "marketplace" && d.Trigger == planner.TriggerChange {
					plans++
					accounted += d.Changes
				}
			}
		}
		t.Logf("burst: %d patches, %d object.changed, %d plans, %d changes accounted", n, changes, plans, accounted)
		if changes < n/2 {
			t.Fatalf("the watcher reported only %d of %d changes", changes, n)
		}
		if accounted != changes {
			t.Fatalf("plans accounted for %d changes, the watcher reported %d", accounted, changes)
		}
		if plans > 6 {
			t.Fatalf("%d plans for a burst of %d changes", plans, n)
		}
		apply(t, seed)
	})

	t.Run("LabelFightIsOneChurnFinding", func(t *testing.T) {
		m := s.mark()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := churn.New(l.Dynamic(), "shop", []schema.GroupVersionResource{{Group: "apps", Version: "v1", Resource: "deployments"}},
			churn.WithNamespace(ns), churn.WithNames("marketplace"), churn.WithLogger(quietLog()))
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		defer func() { cancel(); <-done }()
		var churned *record
		for i := 0; i < 8 && churned == nil; i++ {
			time.Sleep(1500 * time.Millisecond) // let the controller put its label back
			apply(t, seed)
			for _, rec := range s.since(m) {
				if detected("kubernetes_deployment.marketplace", events.ClassChurn)(rec.Data) {
					churned = &rec
					break
				}
			}
		}
		if churned == nil {
			t.Fatalf("no churn finding after 8 applies:\n%s", s.describe(m))
		}
		apply(t, seed)
		// One more round of the fight, then count once it is over: the
		// controller has put its label back (the last change), the planner
		// has handled every change the watcher reported and the plan after
		// the last of them has completed with nothing pending. A second
		// churn alert, or a changed one, would be in the stream by then.
		labelBack(t, l, ns, "marketplace")
		waitSettled(t, env, s, m, ns, 3*time.Minute)
		s.WaitCaughtUp(t, 30*time.Second)
		n := 0
		for _, rec := range s.since(m) {
			if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Address == "kubernetes_deployment.marketplace" {
				switch dd.Finding.Class {
				case events.ClassChurn:
					n++
				case events.ClassChanged:
					t.Errorf("the label fight raised a changed alert: %+v", dd.Finding)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d churn alerts, want exactly one", n)
		}
	})

	t.Run("CreatedLiveWithEmptyStateIsUnimported", func(t *testing.T) {
		m := s.mark()
		other := prepare(t, l, marketplaceSrc, bin, "svc/"+string(bin)+"/other.tfstate", map[string]string{"namespace": `"` + fresh + `"`})
		apply(t, other)
		want := marketplaceImportIDs(fresh)
		deadline := time.Now().Add(3 * time.Minute)
		got := map[string]string{}
		for len(got) < len(want) && time.Now().Before(deadline) {
			for _, rec := range s.since(m) {
				if dd, ok := rec.Data.(*events.DriftDetected); ok && dd.Finding.Workspace == "fresh" {
					if dd.Finding.Class != events.ClassUnimported {
						t.Fatalf("%s: class %s, want unimported", dd.Finding.Address, dd.Finding.Class)
					}
					got[dd.Finding.Address] = dd.Finding.ImportID
				}
			}
			time.Sleep(time.Second)
		}
		for addr, id := range want {
			if got[addr] != id {
				t.Errorf("%s: import id %q, want %q", addr, got[addr], id)
			}
		}
		if t.Failed() {
			return
		}
		// Imported by hand: the state changes, and the finding resolves
		// long before the workspace's hourly full plan.
		const addr = "kubernetes_config_map.marketplace"
		ctx := context.Background()
		if err := empty.Init(ctx); err != nil {
			t.Fatal(err)
		}
		m = s.mark()
		if err := empty.TF.Import(ctx, addr, want[addr]); err != nil {
			t.Fatal(err)
		}
		r := s.wait(m, 2*time.Minute, "drift.resolved after the import", func(d events.Data) bool {
			dr, ok := d.(*events.DriftResolved)
			return ok && dr.Finding.Workspace == "fresh" && dr.Finding.Address == addr
		})
		if f := r.Data.(*events.DriftResolved).Finding; f.Class != events.ClassUnimported {
			t.Fatalf("resolved %+v", f)
		}
		for _, rec := range s.since(m) {
			if dr, ok := rec.Data.(*events.DriftResolved); ok && dr.Finding.Workspace == "fresh" && dr.Finding.Address != addr {
				t.Errorf("%s resolved, but only %s was imported", dr.Finding.Address, addr)
			}
		}
	})
}

// settled reports whether, after mark, the last marketplace plan came
// after the last object.changed of ns.
func settled(s *stream, mark int, ns string) bool {
	var lastChange, lastPlan int
	for i, rec := range s.since(mark) {
		switch d := rec.Data.(type) {
		case *events.ObjectChanged:
			if d.Object.Namespace == ns {
				lastChange = i
			}
		case *events.PlanCompleted:
			if d.WS == "marketplace" {
				lastPlan = i
			}
		}
	}
	return lastPlan > lastChange
}

// waitSettled waits until the planner has handled every change reported so
// far (its consumer caught up), has nothing pending, and a marketplace plan
// completed after the last object.changed of ns since mark.
func waitSettled(t *testing.T, env *eventstest.Env, s *stream, mark int, ns string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		env.WaitConsumed(t, "planner", time.Until(deadline))
		if pendingLeft(t, env) == 0 && settled(s, mark, ns) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled within %s: %d pending changes\n%s", timeout, pendingLeft(t, env), s.describe(mark))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// labelBack waits until the churn controller has put its label back on the
// deployment.
func labelBack(t *testing.T, l *lab.Lab, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := l.Kube().AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Labels[churn.Label]; ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the churn controller did not put %s back on %s/%s", churn.Label, ns, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quiesce waits until the planner has had nothing pending for two seconds,
// so what a test counts afterwards is its own.
func quiesce(t *testing.T, env *eventstest.Env) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	quiet := 0
	for quiet < 4 {
		if time.Now().After(deadline) {
			t.Fatal("the planner never went quiet")
		}
		if pendingLeft(t, env) == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}
