package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// buildCLI builds the driftgate binary once per test binary.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "driftgate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRunServesAuditAndStopsOnSIGTERM(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "driftgate.yaml")
	if err := os.WriteFile(cfg, []byte("nats:\n  stream_max_age: 24h\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, httpAddr := freePort(t), freePort(t)
	var logs bytes.Buffer
	run := exec.Command(bin, "run", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--listen", listen, "--http", httpAddr)
	// The CLI finds run's token under the user's config dir: one of the test's own.
	env := append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "DRIFTGATE_NATS_TOKEN=")
	run.Env, run.Stderr = env, &logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		if run.ProcessState == nil {
			_ = run.Process.Kill()
		}
		if t.Failed() {
			t.Logf("driftgate run logs:\n%s", logs.String())
		}
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Publish a few facts as a service would, then read them back with
	// `driftgate audit` from a second process.
	url := "nats://" + listen
	// Closed by default: an anonymous client is refused; the token run made
	// is in the data dir, readable by its owner only.
	if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to the default driftgate run")
	} else if !strings.Contains(err.Error(), "Authorization Violation") {
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
	tokPath := filepath.Join(dir, "data", "nats.token")
	st, err := os.Stat(tokPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, st)
	}
	tok, _ := os.ReadFile(tokPath)
	nc, err := nats.Connect(url, nats.Token(strings.TrimSpace(string(tok))))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	pub := events.NewPublisher(js, "test")
	for i := range 5 {
		_, err := pub.Publish(context.Background(), &events.ClusterHealth{Cluster: "lab", Component: events.ComponentAPIServer,
			Condition: "Unreachable", Status: []string{"True", "False"}[i%2], Severity: events.SeverityCritical,
			Since: time.Unix(int64(i), 0), ObservedAt: time.Now(), Message: fmt.Sprintf("probe %d", i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	audit := exec.Command(bin, "audit", "--nats-url", url, "--type", "cluster.health")
	audit.Env = env
	out, err := audit.CombinedOutput()
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "cluster.health"); n != 5 {
		t.Fatalf("audit printed %d health events, want 5:\n%s", n, out)
	}
	// The default URL reaches `driftgate run` through DRIFTGATE_NATS_URL.
	aud := exec.Command(bin, "audit", "-o", "jsonl")
	aud.Env = append(env, "DRIFTGATE_NATS_URL="+url)
	if out, err := aud.CombinedOutput(); err != nil || strings.Count(string(out), "\n") != 5 {
		t.Fatalf("audit via env: %v\n%s", err, out)
	}

	if err := run.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("driftgate run exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("driftgate run did not stop within 30s of SIGTERM")
	}
	for _, want := range []string{"services stopped; draining NATS", "embedded NATS stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("shutdown log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "panic") || strings.Contains(logs.String(), "goroutine ") {
		t.Errorf("stack trace in logs:\n%s", logs.String())
	}
	// The stream survived on disk: a restart sees the same events.
	if _, err := os.Stat(filepath.Join(dir, "data", "jetstream")); err != nil {
		t.Errorf("store dir: %v", err)
	}
}

func TestRunBadConfigIsOneLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(cfg, []byte("nats:\n  stream_max_age: forever\n"), 0o644)
	var out, errb bytes.Buffer
	code := dispatch([]string{"run", "--config", cfg, "--data-dir", dir}, &out, &errb)
	want := cfg + `:2:19: nats.stream_max_age: "forever" is not a duration`
	if code != 1 || !strings.HasPrefix(errb.String(), "driftgate run: "+want) || strings.Count(errb.String(), "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	for _, args := range [][]string{{"run"}, {"nonsense"}, {"run", "--config", cfg, "extra"}} {
		errb.Reset()
		if code := dispatch(args, &out, &errb); code == 0 || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

// TestBadFlagsAreOneLine: an unknown flag or an impossible --listen is one
// line naming it and exit 1, before anything starts (no config is read, so a
// missing --config is not what is reported).
func TestBadFlagsAreOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--bogus"}, "driftgate run: flag provided but not defined: -bogus (-h lists the flags)"},
		{[]string{"audit", "--since=1h", "-x"}, "driftgate audit: flag provided but not defined: -x"},
		{[]string{"findings", "--nope"}, "driftgate findings: flag provided but not defined: -nope"},
		{[]string{"run", "--listen", "127.0.0.1:99999"}, `driftgate run: --listen "127.0.0.1:99999": port "99999" is not a number from 0 to 65535`},
		{[]string{"run", "--listen", "4222"}, `driftgate run: --listen "4222": not HOST:PORT`},
		{[]string{"run", "--listen", "nats.example:4222"}, `driftgate run: --listen "nats.example:4222": host "nats.example" is not an IP address or localhost`},
	} {
		var out, errb bytes.Buffer
		code := dispatch(c.args, &out, &errb)
		if code != 1 || !strings.HasPrefix(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line starting %q", c.args, code, errb.String(), c.want)
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch([]string{"audit", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-since") {
		t.Errorf("audit -h: exit %d, %q", code, errb.String())
	}
}

// TestRunRefusesBeforeStarting: a secret variable the config names but the
// environment leaves empty, or a --listen beyond loopback, is one line and
// nothing starts (no token, no JetStream store in the data dir).
func TestRunRefusesBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "driftgate.yaml")
	yml := "notify:\n  sinks:\n    - {name: hook, webhook: {url: \"http://127.0.0.1:1/hook\", secret_env: DG_TEST_EMPTY_SECRET}}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DG_TEST_EMPTY_SECRET", "")
	data := filepath.Join(dir, "data")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config", cfg, "--data-dir", data, "--listen", freePort(t)},
			cfg + ":3:74: notify.sinks[0].webhook.secret_env: environment variable DG_TEST_EMPTY_SECRET is empty; it must hold the webhook signing secret"},
		{[]string{"run", "--config", cfg, "--data-dir", data, "--listen", "0.0.0.0:4222"},
			`--listen "0.0.0.0:4222": the embedded NATS serves loopback only`},
		{[]string{"run", "--config", cfg, "--data-dir", data, "--listen", ":4222"},
			`--listen ":4222": the embedded NATS serves loopback only`},
	} {
		var out, errb bytes.Buffer
		code := dispatch(c.args, &out, &errb)
		if code != 1 || !strings.HasPrefix(errb.String(), "driftgate run: "+c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args[len(c.args)-1], code, errb.String(), c.want)
		}
	}
	for _, f := range []string{"nats.token", "jetstream"} {
		if _, err := os.Stat(filepath.Join(data, f)); err == nil {
			t.Errorf("%s exists: something started", f)
		}
	}
}

// runProc is `driftgate run` as a process of a lab test.
type runProc struct {
	// exited is closed when the process has exited.
	exited chan struct{}
	// log is the path of its log (stdout and stderr).
	log string
}

// startRun starts `driftgate run` with its log in dir/driftgate.log. When
// the test ends it is stopped (SIGTERM, killed after a minute), and the
// log's tail is printed if the test failed.
func startRun(t *testing.T, bin, cfg, dir, listen, httpAddr string, env []string) *runProc {
	t.Helper()
	logPath := filepath.Join(dir, "driftgate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin, "run", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--listen", listen, "--http", httpAddr)
	run.Env, run.Stdout, run.Stderr = env, logFile, logFile
	if err := run.Start(); err != nil {
		logFile.Close()
		t.Fatal(err)
	}
	p := &runProc{exited: make(chan struct{}), log: logPath}
	go func() { _ = run.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = run.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(time.Minute):
				_ = run.Process.Kill()
				<-p.exited
			}
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("driftgate run log (tail):\n%s", b[max(0, len(b)-20000):])
		}
	})
	return p
}

// waitHTTP waits until url answers 200; it fails the test when run exits
// first or after limit (a liveness bound).
func (p *runProc) waitHTTP(t *testing.T, url string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("driftgate run exited before %s answered", url)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %v: %v", url, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
