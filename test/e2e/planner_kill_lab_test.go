package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// TestKilledMidPlanLab kills a planner process (SIGKILL) while its tofu
// plan runs; another replica takes the workspace over when the dead one's
// lease expires and plans the change, which was never lost.
func TestKilledMidPlanLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	ns := "kill"
	seed := prepare(t, l, marketplaceSrc, lab.Tofu, "kill/seed.tfstate", map[string]string{"namespace": `"` + ns + `"`})
	apply(t, seed)
	cfg := workspaceConfig(l, "marketplace", seed.Dir, lab.Tofu, ns)
	cfgPath := writeConfig(t, cfg)

	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, cfg, "watcher-1")

	// Replica A: a real process, killed for real.
	var stderr bytes.Buffer
	a := exec.Command(os.Args[0], "--config", cfgPath, "--nats-url", env.Server.ClientURL(), "--data-dir", t.TempDir())
	a.Env = append(os.Environ(), childEnv+"=1", childLeaseEnv+"=4s", childEnvironEnv+"="+strings.Join(toolEnv(l), "\n"))
	a.Stderr = &stderr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Process.Kill(); _ = a.Wait() })
	s.wait(0, 3*time.Minute, "replica A's startup plan", planCompleted("marketplace", ""))

	m := s.mark()
	patch(t, l, "kubectl-patch", "deployments", ns, "marketplace", `{"spec":{"replicas":4}}`)
	tool := waitChild(t, a.Process.Pid, "tofu", time.Minute)
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	t.Logf("killed replica A (pid %d) while its tofu (pid %d) planned", a.Process.Pid, tool)
	for _, rec := range s.since(m) {
		if _, ok := rec.Data.(*events.DriftDetected); ok {
			t.Fatalf("replica A finished before it was killed; the test did not kill it mid-plan:\n%s", s.describe(m))
		}
	}
	if pendingLeft(t, env) == 0 {
		t.Fatal("the change was lost with replica A")
	}

	// Replica B takes over once A's lease expires.
	startPlanner(t, env, cfg, "planner-B", t.TempDir(), planner.WithEnviron(toolEnv(l)), planner.WithLeaseTTL(4*time.Second))
	r := s.wait(m, 3*time.Minute, "drift.detected from replica B", detected("kubernetes_deployment.marketplace", events.ClassChanged))
	if !strings.Contains(r.Event.Source(), "planner-B") {
		t.Fatalf("drift.detected came from %s, want replica B", r.Event.Source())
	}
	pc := s.wait(m, time.Minute, "replica B's plan.completed", planCompleted("marketplace", planner.TriggerChange))
	if n := pc.Data.(*events.PlanCompleted).Changes; n < 1 {
		t.Fatalf("replica B's plan accounts for %d changes", n)
	}
	deadline := time.Now().Add(time.Minute)
	for pendingLeft(t, env) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("replica B left the change pending")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func writeConfig(t testing.TB, cfg *config.File) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "driftgate.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(p); err != nil {
		t.Fatalf("the test's config does not load: %v\n%s", err, b)
	}
	return p
}

// waitChild waits for a descendant process of pid named name and returns
// its pid.
func waitChild(t testing.TB, pid int, name string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c := findDescendant(pid, name); c > 0 {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s under pid %d within %s", name, pid, timeout)
	return 0
}

func findDescendant(root int, name string) int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	comm := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		comm[pid] = s[open+1 : close]
		f := strings.Fields(s[close+1:])
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	for pid, c := range comm {
		if c != name {
			continue
		}
		for p := parent[pid]; p > 1; p = parent[p] {
			if p == root {
				return pid
			}
		}
	}
	return 0
}
