package watcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/service/servicetest"
	"github.com/driftgate/driftgate/services/watcher"
	"github.com/driftgate/driftgate/services/watcher/internal/cluster"
)

// childEnv makes the test binary run as a watcher process (TestMain), so
// tests can kill a watcher for real. childLeaseEnv carries short
// leader-election timings ("lease,renew,retry").
const (
	childEnv      = "DRIFTGATE_WATCHER_TEST_CHILD"
	childLeaseEnv = "DRIFTGATE_WATCHER_TEST_LEASE"
	// childPprofEnv, an address, makes a watcher process serve
	// net/http/pprof there (to profile its memory in a benchmark).
	childPprofEnv = "DRIFTGATE_WATCHER_TEST_PPROF"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if addr := os.Getenv(childPprofEnv); addr != "" {
			go func() { _ = http.ListenAndServe(addr, nil) }() // net/http/pprof's handlers
		}
		os.Exit(service.Main("watcher", childFactory, os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

func childFactory(cfg *config.File, d service.Deps) (service.Runner, error) {
	var opts []watcher.Option
	if v := os.Getenv(childLeaseEnv); v != "" {
		var ds [3]time.Duration
		for i, s := range strings.Split(v, ",") {
			d, err := time.ParseDuration(s)
			if err != nil || i > 2 {
				return nil, fmt.Errorf("%s=%q: want lease,renew,retry durations", childLeaseEnv, v)
			}
			ds[i] = d
		}
		opts = append(opts, shortLease(ds[0], ds[1], ds[2]))
	}
	opts = append(opts, func(o *cluster.Options) { o.SyncTimeout = 10 * time.Second })
	s, err := watcher.New(cfg, d, opts...)
	if s == nil || err != nil {
		return nil, err // a nil *Service is no Runner
	}
	return s, nil
}

func shortLease(lease, renew, retry time.Duration) watcher.Option {
	return func(o *cluster.Options) {
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = lease, renew, retry
	}
}

// fastProbe probes every 500 ms (3 s timeout) and declares an outage after 3
// failures.
func fastProbe(o *cluster.Options) {
	o.ProbeInterval, o.ProbeFailures, o.ProbeTimeout = 500*time.Millisecond, 3, 3*time.Second
}

// testConfig watches resources in the given namespaces of the lab.
func testConfig(kubeconfig string, resources []string, namespaces ...string) *config.File {
	return &config.File{
		Clusters: []config.Cluster{{Name: "lab", Kubeconfig: kubeconfig}},
		Watch: config.Watch{
			Resources:     resources,
			Namespaces:    namespaces,
			ProbeInterval: config.Duration{Duration: time.Second},
		},
	}
}

// quietLogger logs warnings and errors; DRIFTGATE_TEST_LOG=debug shows all.
func quietLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("DRIFTGATE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// startWatcher runs a watcher in this process until the returned stop is
// called (or the test ends).
func startWatcher(t testing.TB, env *eventstest.Env, cfg *config.File, instance string, opts ...watcher.Option) (stop func()) {
	t.Helper()
	cfg.ApplyDefaults() // as config.Load does; tests build their configs in code
	r, err := watcher.New(cfg, service.Deps{
		Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: quietLogger().With("instance", instance),
		Health: obs.NewHealth(), Instance: instance, Getenv: os.Getenv,
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Run(t, "watcher "+instance, r)
}

// child is a watcher running as its own process.
type child struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// startChild runs the test binary as a watcher process with cfg.
func startChild(t testing.TB, env *eventstest.Env, cfgYAML string, extraEnv ...string) *child {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "driftgate.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--config", path, "--nats-url", env.Server.ClientURL(), "--http", "", "--log-level", "warn", "--data-dir", dir)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), extraEnv...)
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: c.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("watcher process %d stderr (tail):\n%s", cmd.Process.Pid, tail(c.stderr.String(), 40))
		}
	})
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// kill sends SIGKILL: no shutdown, no lease release, nothing flushed.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func childConfig(kubeconfig string, resources []string, namespaces []string, extra string) string {
	return fmt.Sprintf(`clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [%s]
  namespaces: [%s]
  probe_interval: 1s
%s`, kubeconfig, strings.Join(resources, ", "), strings.Join(namespaces, ", "), extra)
}

// received is one event read back from the stream.
type received = eventstest.Recorded

// stream is the shared recorder of the DRIFTGATE stream with the watcher
// tests' helpers on top.
type stream struct{ *eventstest.Recorder }

func collect(t testing.TB, env *eventstest.Env) *stream {
	t.Helper()
	return &stream{env.Record(t)}
}

func (s *stream) all() []received { return s.All() }

// wait returns the first event of the stream that matches, failing the
// test after timeout.
func (s *stream) wait(t testing.TB, timeout time.Duration, what string, match func(received) bool) received {
	t.Helper()
	return s.WaitFor(t, 0, timeout, what, match)
}

// changes returns the object.changed events about one object (by name, in
// namespace ns; kind matches the event's Object.Kind).
func (s *stream) changes(kind, ns, name string) []*events.ObjectChanged {
	var out []*events.ObjectChanged
	for _, r := range s.all() {
		if oc, ok := r.Data.(*events.ObjectChanged); ok && oc.Object.Kind == kind && oc.Object.Namespace == ns && oc.Object.Name == name {
			out = append(out, oc)
		}
	}
	return out
}

func isChange(kind, ns, name, change string) func(received) bool {
	return func(r received) bool {
		oc, ok := r.Data.(*events.ObjectChanged)
		return ok && oc.Object.Kind == kind && oc.Object.Namespace == ns && oc.Object.Name == name && oc.Change == change
	}
}

func isHealth(component, condition, status string) func(received) bool {
	return func(r received) bool {
		h, ok := r.Data.(*events.ClusterHealth)
		return ok && h.Component == component && h.Condition == condition && h.Status == status
	}
}

// synced matches the watcher's Synced=True event published by source.
func synced(sourceSuffix string) func(received) bool {
	return func(r received) bool {
		return isHealth(events.ComponentWatcher, "Synced", "True")(r) && strings.HasSuffix(r.Event.Source(), sourceSuffix)
	}
}

func testNamespace(t testing.TB, create func(ctx context.Context, name string) error) string {
	t.Helper()
	name := fmt.Sprintf("w-%s-%d", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())), time.Now().UnixNano()%100000)
	if len(name) > 60 {
		name = name[len(name)-60:]
		name = "w" + strings.TrimLeft(name, "-")
	}
	if err := create(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	return name
}

// kvContents reads every live key of a bucket.
func kvContents(t testing.TB, kv jetstream.KeyValue) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		out[k] = e.Value()
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
