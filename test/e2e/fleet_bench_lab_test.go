package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkFleetLab measures a fleet of small workspaces on one planner
// replica, the planner running as its own process (this test binary run
// as a planner, as TestKilledMidPlanLab does), the watcher in this one:
//
//   - DRIFTGATE_FLEET_WORKSPACES workspaces (default 50), each a namespace
//     and eight ConfigMaps applied with OpenTofu, state in the lab's S3
//     bucket, half of them in cluster east (the lab's kube-apiserver), half
//     in cluster west (a second lab's: its own etcd and kube-apiserver, no
//     S3), one watcher watching both;
//   - the startup at max_concurrent_plans 4 (an init and a full plan per
//     workspace);
//   - at max_concurrent_plans 1, 2 and 4 (a fresh planner process each,
//     same data dir, so no init and no startup plan), twice (right after
//     the start, when each workspace's first plan also reads the
//     providers' schema, then the steady state): one ConfigMap changed in
//     every workspace at once → the time until every workspace's
//     drift.detected, the p50 per workspace, and the peak RSS of the
//     planner and of the planner with its tool processes (/proc sampled
//     every 50 ms);
//   - two replicas of max_concurrent_plans 2: the same, how the workspaces
//     split between them, and the most plans of one workspace at once
//     (plan.completed's started_at and duration_ms).
//
// It runs once whatever b.N is (make bench runs -benchtime 1x).
func BenchmarkFleetLab(b *testing.B) {
	n := fleetSize()
	l := lab.Start(b, lab.WithoutControllerManager())
	west := lab.Start(b, lab.WithoutControllerManager(), lab.WithoutS3())
	start := time.Now()
	wss := fleetWorkspaces(b, l, "fleet", n, 8, fleetCluster{name: "east", kube: l}, fleetCluster{name: "west", kube: west})

	env := eventstest.Start(b)
	s := collect(b, env)
	cfg := fleetConfig(l, wss, 4)
	startWatcher(b, env, cfg, "watcher-1")
	dataA, dataB := b.TempDir(), b.TempDir()
	host, _ := os.Hostname()

	setup := time.Since(start)
	// The startup: an init and a full plan of each workspace.
	b.Run("Startup", func(b *testing.B) {
		byCluster := map[string]int{}
		for _, f := range wss {
			byCluster[f.cluster]++
		}
		b.Logf("setup: %d workspaces (a namespace and 8 ConfigMaps each; %d in east, %d in west) initialized and applied in %s",
			n, byCluster["east"], byCluster["west"], setup.Round(time.Second))
		start := time.Now()
		a := startPlannerProcess(b, l, env, cfg, dataA, "a-startup")
		rss := sampleRSS(a.pid())
		for _, f := range wss {
			s.wait(0, 20*time.Minute, f.name+"'s startup plan", planCompleted(f.name, planner.TriggerStartup))
		}
		startup := time.Since(start)
		peak, peakSelf := rss.stop()
		waitLastFull(b, env, wss) // written after plan.completed: the next process must not plan them in full again
		a.stop(b)
		b.Logf("startup at max_concurrent_plans 4: %d inits and full plans in %s; peak RSS %d MB (planner alone %d MB)",
			n, startup.Round(time.Second), peak>>20, peakSelf>>20)
		b.ReportMetric(startup.Seconds(), "s-startup")
		b.ReportMetric(float64(peak>>20), "MB-peak-rss")
	})

	type row struct {
		all, p50        time.Duration
		peak, self      int64
		split           string
		most, mostPerWS int
	}
	cm := 0
	// measure changes the next ConfigMap in every workspace at once.
	measure := func(b *testing.B, label string, procs ...*plannerProcess) row {
		var pids []int
		names := map[string]string{}
		for _, p := range procs {
			names[fmt.Sprintf("%s-%d", host, p.pid())] = p.name // service.Instance of the process
			pids = append(pids, p.pid())
		}
		defer func() { cm++ }()
		m := s.mark()
		rss := sampleRSS(pids...)
		start := time.Now()
		addr := fmt.Sprintf("kubernetes_config_map.cm[%d]", cm)
		patchAll(b, wss, fmt.Sprintf("cm-%d", cm), "changed")
		alerted := map[string]time.Duration{}
		bySource := map[string]int{}
		s.WaitFor(b, m, 20*time.Minute, fmt.Sprintf("drift.detected of %s in all %d workspaces", addr, n), func(r record) bool {
			dd, ok := r.Data.(*events.DriftDetected)
			if !ok || dd.Finding.Address != addr {
				return false
			}
			if _, seen := alerted[dd.Finding.Workspace]; !seen {
				alerted[dd.Finding.Workspace] = r.At.Sub(start)
				bySource[names[replicaOf(r.Event.Source())]]++
			}
			return len(alerted) == n
		})
		peak, self := rss.stop()
		var lat []time.Duration
		for _, d := range alerted {
			lat = append(lat, d)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		runs := planRuns(s.Since(m))
		most, _ := maxOverlap(runs, func(r planRun) string { return r.replica })
		mostWS, where := maxOverlap(runs, func(r planRun) string { return r.ws })
		if mostWS > 1 {
			b.Errorf("%s: one workspace planned %d times at once: %s", label, mostWS, where)
		}
		var split []string
		for src, k := range bySource {
			split = append(split, fmt.Sprintf("%s %d", src, k))
		}
		sort.Strings(split)
		r := row{all: lat[len(lat)-1], p50: percentile(lat, .5), peak: peak, self: self,
			split: strings.Join(split, ", "), most: most, mostPerWS: mostWS}
		b.Logf("%s: all %d alerted in %s (p50 %s); peak RSS %d MB (planner alone %d MB); most plans at once: per replica %d, per workspace %d; alerts by replica: %s",
			label, n, r.all.Round(10*time.Millisecond), r.p50.Round(10*time.Millisecond), peak>>20, self>>20, most, mostWS, r.split)
		return r
	}

	// Each process plans twice: right after its start, each workspace's
	// first plan also reads the providers' schema (once per process and
	// init); the second round is the steady state.
	type result struct {
		label      string
		cold, warm row
	}
	var results []result
	for _, c := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("max_concurrent_plans=%d", c), func(b *testing.B) {
			cfg.Planner.MaxConcurrentPlans = c
			p := startPlannerProcess(b, l, env, cfg, dataA, fmt.Sprintf("a-%d", c))
			p.waitReady(b, n, 20*time.Minute)
			cold := measure(b, "after a restart", p)
			r := measure(b, "steady", p)
			p.stop(b)
			results = append(results, result{label: fmt.Sprintf("one replica, max_concurrent_plans %d", c), cold: cold, warm: r})
			b.ReportMetric(r.all.Seconds(), "s-all-alerted")
			b.ReportMetric(r.p50.Seconds(), "s-p50-alerted")
			b.ReportMetric(cold.all.Seconds(), "s-all-alerted-after-restart")
			b.ReportMetric(float64(max(r.peak, cold.peak)>>20), "MB-peak-rss")
		})
	}
	b.Run("TwoReplicas", func(b *testing.B) {
		cfg.Planner.MaxConcurrentPlans = 2
		pa := startPlannerProcess(b, l, env, cfg, dataA, "a")
		pb := startPlannerProcess(b, l, env, cfg, dataB, "b")
		start := time.Now()
		pa.waitReady(b, n, 20*time.Minute)
		pb.waitReady(b, n, 20*time.Minute)
		b.Logf("replica b's start (%d inits in its own data dir; no full plan: a's first process ran them): %s", n, time.Since(start).Round(time.Second))
		cold := measure(b, "after a restart", pa, pb)
		r := measure(b, "steady", pa, pb)
		pa.stop(b)
		pb.stop(b)
		results = append(results, result{label: "two replicas, max_concurrent_plans 2 each", cold: cold, warm: r})
		b.ReportMetric(r.all.Seconds(), "s-all-alerted")
		b.ReportMetric(r.p50.Seconds(), "s-p50-alerted")
		b.ReportMetric(cold.all.Seconds(), "s-all-alerted-after-restart")
		b.ReportMetric(float64(max(r.peak, cold.peak)>>20), "MB-peak-rss")
		b.ReportMetric(float64(max(r.mostPerWS, cold.mostPerWS)), "most-plans-of-one-workspace-at-once")
	})

	var t strings.Builder
	fmt.Fprintf(&t, "%d workspaces, one change in each at once:\n| | all alerted | p50 | after a restart: all | peak RSS planner + tools | planner alone | plans at once | alerts by replica |\n|---|---|---|---|---|---|---|---|\n", n)
	for _, r := range results {
		fmt.Fprintf(&t, "| %s | %.1f s | %.1f s | %.1f s | %d MB | %d MB | %d | %s |\n", r.label, r.warm.all.Seconds(), r.warm.p50.Seconds(),
			r.cold.all.Seconds(), max(r.warm.peak, r.cold.peak)>>20, max(r.warm.self, r.cold.self)>>20, max(r.warm.most, r.cold.most), r.warm.split)
	}
	b.Run("Summary", func(b *testing.B) { b.Log(t.String()) })
}

// fleetSize is DRIFTGATE_FLEET_WORKSPACES, default 50.
func fleetSize() int {
	if n, err := strconv.Atoi(os.Getenv("DRIFTGATE_FLEET_WORKSPACES")); err == nil && n >= 2 {
		return n
	}
	return 50
}

// waitLastFull waits until the time of each workspace's last full plan
// is recorded in the state bucket.
func waitLastFull(b testing.TB, env *eventstest.Env, wss []*fleetWS) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, f := range wss {
		for {
			_, err := env.Buckets.State.Get(ctx, events.Key("planner", "lastfull", f.name))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				b.Fatalf("the last full plan of %s is not recorded: %v", f.name, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// replicaOf is the replica's name in an event source
// (driftgate/planner/<instance>).
func replicaOf(source string) string {
	if i := strings.LastIndexByte(source, '/'); i >= 0 {
		return source[i+1:]
	}
	return source
}

// patchAll changes one ConfigMap in every workspace, in its cluster, eight
// at a time.
func patchAll(b testing.TB, wss []*fleetWS, cm, value string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(wss))
	sem := make(chan struct{}, 8)
	for _, f := range wss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := patchConfigMap(ctx, f.kube, f.ns, cm, value); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// plannerProcess is a planner replica run as its own process.
type plannerProcess struct {
	cmd  *exec.Cmd
	log  string
	name string
}

func startPlannerProcess(b testing.TB, l *lab.Lab, env *eventstest.Env, cfg *config.File, dataDir, name string) *plannerProcess {
	b.Helper()
	cfgPath := writeConfig(b, cfg)
	logPath := filepath.Join(b.TempDir(), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--config", cfgPath, "--nats-url", env.Server.ClientURL(), "--data-dir", dataDir, "--http", "")
	cmd.Env = append(os.Environ(), childEnv+"=1", childEnvironEnv+"="+strings.Join(toolEnv(l), "\n"))
	cmd.Stderr, cmd.Stdout = lf, lf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &plannerProcess{cmd: cmd, log: logPath, name: name}
	b.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		_ = lf.Close()
		if b.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				b.Logf("planner %s log (tail):\n%s", name, tail(string(out), 40))
			}
		}
	})
	return p
}

func (p *plannerProcess) pid() int { return p.cmd.Process.Pid }

// waitReady waits until the process has loaded the state index of n
// workspaces (its log says so per workspace).
func (p *plannerProcess) waitReady(b testing.TB, n int, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, _ := os.ReadFile(p.log)
		if c := bytes.Count(out, []byte(`"msg":"state index loaded"`)); c >= n {
			return
		}
		if p.cmd.ProcessState != nil || time.Now().After(deadline) {
			b.Fatalf("planner did not load %d state indexes within %s:\n%s", n, timeout, tail(string(out), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (it interrupts its tool runs with
// SIGINT) and waits for it.
func (p *plannerProcess) stop(b testing.TB) {
	b.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		_ = p.cmd.Process.Kill()
		<-done
		b.Fatalf("planner %d did not stop within 3 minutes of SIGTERM", p.pid())
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// rssSampler samples the resident memory of process trees.
type rssSampler struct {
	done       chan struct{}
	stopped    chan struct{}
	peak, self int64 // tree total; the roots alone
}

// sampleRSS samples, every 50 ms until stop, the summed RSS of roots and
// all their descendants (tofu, its providers), and of the roots alone.
func sampleRSS(roots ...int) *rssSampler {
	r := &rssSampler{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(r.stopped)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			total, self := treeRSS(roots)
			r.peak, r.self = max(r.peak, total), max(r.self, self)
			select {
			case <-r.done:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// stop ends the sampling and returns the peaks in bytes.
func (r *rssSampler) stop() (peak, self int64) {
	close(r.done)
	<-r.stopped
	return r.peak, r.self
}

// treeRSS is the RSS of roots with their descendants, and of roots alone.
func treeRSS(roots []int) (total, self int64) {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	isRoot := map[int]bool{}
	for _, r := range roots {
		isRoot[r] = true
	}
	page := int64(os.Getpagesize())
	for pid := range parent {
		in := false
		for p := pid; p > 1; p = parent[p] {
			if isRoot[p] {
				in = true
				break
			}
		}
		if !in {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		pages, _ := strconv.ParseInt(f[1], 10, 64)
		total += pages * page
		if isRoot[pid] {
			self += pages * page
		}
	}
	return total, self
}
