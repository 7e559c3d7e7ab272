package e2e_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// fleetWS is one small workspace of a fleet: a namespace and n ConfigMaps
// cm-0 … cm-<n-1>, applied with OpenTofu, state in the lab's S3 bucket.
type fleetWS struct {
	name, ns, cluster string
	kube              *lab.Lab // the lab whose kube-apiserver is the cluster
	w                 *lab.Workspace
}

// fleetCluster is a cluster of a fleet: its clusters[] name and the lab
// whose kube-apiserver it is.
type fleetCluster struct {
	name string
	kube *lab.Lab
}

// fleetWorkspaces writes and applies n workspaces <prefix>-NN of cms
// ConfigMaps each, state in l's S3 bucket. Without clusters they are all
// in l's cluster, named "lab"; with clusters, the first n/len(clusters)
// are in the first, and so on. The first init fills a plugin cache from
// the lab's mirror, the others link from it one at a time; the applies run
// four at a time.
func fleetWorkspaces(t testing.TB, l *lab.Lab, prefix string, n, cms int, clusters ...fleetCluster) []*fleetWS {
	t.Helper()
	cache := filepath.Join(t.TempDir(), "plugin-cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range append(os.Environ(), l.Env()...) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	env = tfexec.CleanEnv(env)
	env["TF_PLUGIN_CACHE_DIR"] = cache
	if len(clusters) == 0 {
		clusters = []fleetCluster{{name: "lab", kube: l}}
	}
	out := make([]*fleetWS, n)
	for i := range out {
		c := clusters[i*len(clusters)/n]
		name := fmt.Sprintf("%s-%02d", prefix, i)
		src := t.TempDir()
		main := lab.ConfigMapModule(name, cms)
		if err := os.WriteFile(filepath.Join(src, "main.tf"), []byte(main), 0o644); err != nil {
			t.Fatal(err)
		}
		w := l.NewWorkspace(t, src, lab.Tofu, "fleet/"+name+".tfstate")
		wenv := maps.Clone(env)
		wenv["KUBECONFIG"] = c.kube.Kubeconfig
		if err := w.TF.SetEnv(wenv); err != nil {
			t.Fatal(err)
		}
		out[i] = &fleetWS{name: name, ns: name, cluster: c.name, kube: c.kube, w: w}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Every init before any apply, one at a time: OpenTofu 1.10 crashes
	// linking from a plugin cache another init is linking from
	// (providercache.LinkFromOtherCache), and an init that installs into
	// the cache removes the entry first (getproviders.installFromLocalDir:
	// os.RemoveAll, then a symlink), so an apply starting its provider
	// through that entry meanwhile fails with "no such file or directory"
	// (seen once in 50 workspaces).
	for _, f := range out {
		if err := f.w.Init(ctx); err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for _, f := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f.w.Apply(ctx); err != nil {
				errs <- fmt.Errorf("%s: %w", f.name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// fleetConfig is a config with each workspace's cluster (its lab's
// apiserver), the workspaces (their tool's KUBECONFIG their cluster's; full
// plans once an hour, so that only changes plan after the startup), and the
// planner's defaults but for max_concurrent_plans.
func fleetConfig(l *lab.Lab, wss []*fleetWS, maxPlans int) *config.File {
	cfg := &config.File{
		Watch: config.Watch{
			Resources:     []string{"configmaps", "namespaces"},
			ProbeInterval: config.Duration{Duration: time.Second},
		},
		Planner: config.Planner{MaxConcurrentPlans: maxPlans},
	}
	seen := map[string]bool{}
	for _, f := range wss {
		if !seen[f.cluster] {
			seen[f.cluster] = true
			cfg.Clusters = append(cfg.Clusters, config.Cluster{Name: f.cluster, Kubeconfig: f.kube.Kubeconfig})
		}
		cfg.Workspaces = append(cfg.Workspaces, config.Workspace{
			Name: f.name, Cluster: f.cluster, Dir: f.w.Dir, Binary: l.BinaryPath(lab.Tofu),
			Env:              map[string]string{"KUBECONFIG": f.kube.Kubeconfig},
			FullPlanInterval: config.Duration{Duration: time.Hour},
		})
	}
	return cfg
}

// patchConfigMap sets data.index of one ConfigMap as kubectl would.
func patchConfigMap(ctx context.Context, l *lab.Lab, ns, name, value string) error {
	body := fmt.Sprintf(`{"data":{"index":%q}}`, value)
	_, err := l.Kube().CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{FieldManager: "kubectl-patch"})
	return err
}

// planRun is one plan as plan.completed tells it: which replica, which
// workspace, from when to when.
type planRun struct {
	replica, ws, trigger string
	start, end           time.Time
	queue                time.Duration
}

func planRuns(recs []record) []planRun {
	var out []planRun
	for _, r := range recs {
		pc, ok := r.Data.(*events.PlanCompleted)
		if !ok {
			continue
		}
		out = append(out, planRun{
			replica: r.Event.Source(), ws: pc.WS, trigger: pc.Trigger,
			start: pc.StartedAt, end: pc.StartedAt.Add(time.Duration(pc.DurationMS) * time.Millisecond),
			queue: time.Duration(pc.PhasesMS["queue"]) * time.Millisecond,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// maxOverlap is the largest number of runs, grouped by key, that were
// under way at one moment, and a description of where it happened.
func maxOverlap(runs []planRun, key func(planRun) string) (int, string) {
	groups := map[string][]planRun{}
	for _, r := range runs {
		groups[key(r)] = append(groups[key(r)], r)
	}
	most, where := 0, ""
	for k, rs := range groups {
		for _, r := range rs {
			n := 0
			var at []string
			for _, o := range rs {
				if !o.start.After(r.start) && o.end.After(r.start) {
					n++
					at = append(at, fmt.Sprintf("%s %s [%s, %s]", o.replica, o.ws, o.start.Format("15:04:05.000"), o.end.Format("15:04:05.000")))
				}
			}
			if n > most {
				most, where = n, k+": "+strings.Join(at, "; ")
			}
		}
	}
	return most, where
}

// TestPlanSlotsLab: a replica's plans are bounded and fair, and two
// replicas never plan one workspace at once.
//
//   - OneReplica: max_concurrent_plans 1, a busy workspace changed every
//     100 ms (it asks for the slot again the moment its plan ends) and a
//     quiet one changed once, a few times over. Whenever the quiet one had
//     to wait for the slot, its plan starts before the busy one's next
//     plan: of the busy one's plans, at most one (the one holding the slot
//     when the quiet one asked) starts between the quiet one's request
//     and its plan. No two plans of the replica overlap.
//   - TwoReplicas: two replicas of max_concurrent_plans 1 share four
//     workspaces, all changed in rounds; the plans of one workspace never
//     overlap, nor do two plans of one replica.
func TestPlanSlotsLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t, lab.WithoutControllerManager())
	wss := fleetWorkspaces(t, l, "slots", 4, 2)
	ctx := context.Background()

	t.Run("OneReplica", func(t *testing.T) {
		busy, quiet := wss[0], wss[1]
		cfg := fleetConfig(l, []*fleetWS{busy, quiet}, 1)
		cfg.Planner.Debounce = config.Duration{Duration: 100 * time.Millisecond}
		cfg.Planner.MaxWait = config.Duration{Duration: time.Second}
		env := eventstest.Start(t)
		s := collect(t, env)
		startWatcher(t, env, cfg, "watcher-1")
		startPlanner(t, env, cfg, "planner-1", t.TempDir(), planner.WithEnviron(toolEnv(l)))
		s.wait(0, 5*time.Minute, "the busy workspace's startup plan", planCompleted(busy.name, planner.TriggerStartup))
		s.wait(0, 5*time.Minute, "the quiet workspace's startup plan", planCompleted(quiet.name, planner.TriggerStartup))

		sctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-sctx.Done():
					return
				case <-tick.C:
				}
				if err := patchConfigMap(sctx, l, busy.ns, "cm-0", fmt.Sprintf("busy-%d", i)); err != nil && sctx.Err() == nil {
					t.Errorf("patch the busy workspace: %v", err)
					return
				}
			}
		}()
		defer func() { stop(); wg.Wait() }()
		// The stream is under way: plan after plan.
		s.wait(s.mark(), 3*time.Minute, "two plans of the busy workspace", nth(2, planCompleted(busy.name, planner.TriggerChange)))

		contended := 0
		for round := 0; round < 6 && contended < 2; round++ {
			m := s.mark()
			if err := patchConfigMap(ctx, l, quiet.ns, "cm-0", fmt.Sprintf("quiet-%d", round)); err != nil {
				t.Fatal(err)
			}
			r := s.wait(m, 3*time.Minute, "the quiet workspace's plan", planCompleted(quiet.name, planner.TriggerChange))
			pc := r.Data.(*events.PlanCompleted)
			queue := time.Duration(pc.PhasesMS["queue"]) * time.Millisecond
			if queue == 0 {
				t.Logf("round %d: the slot was free when the quiet workspace asked", round)
				continue
			}
			contended++
			asked := pc.StartedAt.Add(-queue)
			var between []string
			for _, run := range planRuns(s.All()) {
				if run.ws == busy.name && !run.start.Before(asked.Add(-time.Millisecond)) && run.start.Before(pc.StartedAt) {
					between = append(between, run.start.Format("15:04:05.000"))
				}
			}
			t.Logf("round %d: the quiet workspace waited %s for the slot; busy plans started meanwhile: %v", round, queue, between)
			if len(between) > 1 {
				t.Fatalf("round %d: the busy workspace started %d plans (%v) while the quiet one waited from %s to %s",
					round, len(between), between, asked.Format("15:04:05.000"), pc.StartedAt.Format("15:04:05.000"))
			}
		}
		if contended == 0 {
			t.Fatal("in 6 rounds the quiet workspace never had to wait for the slot: the test did not test fairness")
		}
		stop()
		wg.Wait()
		if n, where := maxOverlap(planRuns(s.All()), func(planRun) string { return "replica" }); n > 1 {
			t.Fatalf("%d plans at once with max_concurrent_plans 1: %s", n, where)
		}
	})

	t.Run("TwoReplicas", func(t *testing.T) {
		cfg := fleetConfig(l, wss, 1)
		cfg.Planner.Debounce = config.Duration{Duration: 100 * time.Millisecond}
		cfg.Planner.MaxWait = config.Duration{Duration: time.Second}
		env := eventstest.Start(t)
		s := collect(t, env)
		startWatcher(t, env, cfg, "watcher-1")
		startPlanner(t, env, cfg, "planner-a", t.TempDir(), planner.WithEnviron(toolEnv(l)))
		startPlanner(t, env, cfg, "planner-b", t.TempDir(), planner.WithEnviron(toolEnv(l)))
		for _, f := range wss {
			s.wait(0, 5*time.Minute, f.name+"'s startup plan", planCompleted(f.name, planner.TriggerStartup))
		}
		m := s.mark()
		for round := 0; round < 3; round++ {
			for _, f := range wss {
				for _, cm := range []string{"cm-0", "cm-1"} {
					if err := patchConfigMap(ctx, l, f.ns, cm, fmt.Sprintf("two-%d", round)); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The next round once every workspace's plans have counted
			// both changes of this one.
			for _, f := range wss {
				s.wait(m, 3*time.Minute, f.name+"'s plans of round "+fmt.Sprint(round), changesCounted(f.name, 2))
			}
			m = s.mark()
		}
		runs := planRuns(s.All())
		split := map[string]int{}
		for _, r := range runs {
			split[r.replica]++
		}
		t.Logf("plans per replica: %v", split)
		if n, where := maxOverlap(runs, func(r planRun) string { return r.ws }); n > 1 {
			t.Fatalf("one workspace planned %d times at once: %s", n, where)
		}
		if n, where := maxOverlap(runs, func(r planRun) string { return r.replica }); n > 1 {
			t.Fatalf("a replica of max_concurrent_plans 1 ran %d plans at once: %s", n, where)
		}
	})
}

// nth matches the n-th event that match does (a WaitFor calls it once
// per event, in order).
func nth(n int, match func(events.Data) bool) func(events.Data) bool {
	seen := 0
	return func(d events.Data) bool {
		if match(d) {
			seen++
		}
		return seen >= n
	}
}

// changesCounted matches once the plans of ws have counted n changes.
func changesCounted(ws string, n int) func(events.Data) bool {
	counted := 0
	return func(d events.Data) bool {
		if pc, ok := d.(*events.PlanCompleted); ok && pc.WS == ws {
			counted += pc.Changes
		}
		return counted >= n
	}
}
