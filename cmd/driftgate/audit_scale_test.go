package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

// cliChildEnv makes the test binary run as the driftgate command (TestMain),
// so a benchmark can measure one command's process alone.
const cliChildEnv = "DRIFTGATE_CLI_TEST_CHILD"

// cliChildHWMEnv names a file the child writes its own peak RSS to
// (VmHWM of /proc/self/status, in kB) as it exits. getrusage's ru_maxrss
// cannot tell it: at exec Linux folds the peak RSS of the address space the
// child leaves, the parent's (Go starts children with vfork), into the
// child's, so the child's ru_maxrss is never lower than the benchmark's
// own peak, which grows with the JetStream server's stream in it
// (golang/go#32054).
const cliChildHWMEnv = "DRIFTGATE_CLI_TEST_HWM_FILE"

func TestMain(m *testing.M) {
	if os.Getenv(cliChildEnv) != "" {
		code := dispatch(os.Args[1:], os.Stdout, os.Stderr)
		if f := os.Getenv(cliChildHWMEnv); f != "" {
			if err := os.WriteFile(f, []byte(strconv.FormatInt(vmHWM(), 10)), 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// vmHWM is this process's peak RSS in kB, -1 when /proc cannot tell.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// auditEventsEnv shrinks BenchmarkAuditScale's largest stream (default
// 1,000,000 events).
const auditEventsEnv = "DRIFTGATE_BENCH_AUDIT_EVENTS"

// BenchmarkAuditScale replays a JetStream stream (in-process server, file
// storage) of 100,000 and then 1,000,000 events with `driftgate audit -o
// jsonl` and `-o table`, each run as a process of its own writing into a
// pipe the benchmark reads: wall time from the process's start to its exit,
// events/s, the process's CPU (getrusage) and its peak RSS (its own
// VmHWM: see cliChildHWMEnv), which stays flat when the replay holds a few
// batches at a time.
func BenchmarkAuditScale(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv(auditEventsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("%s=%q: want a number ≥ 1000", auditEventsEnv, v)
		}
		total = n
	}
	env := eventstest.Start(b)
	url := env.Server.ClientURL()
	sizes := []int{total / 10, total}
	have := 0
	for _, n := range sizes {
		t0 := time.Now()
		seedFrom(b, env, have, n-have)
		b.Logf("seeded %d events (stream now %d) in %s", n-have, n, time.Since(t0).Round(time.Millisecond))
		have = n
		for _, format := range []string{"jsonl", "table"} {
			b.Run(fmt.Sprintf("%s-%dk", format, n/1000), func(b *testing.B) {
				var elapsed, cpu time.Duration
				var peak int64
				for range b.N {
					r := runAuditChild(b, url, format, n)
					elapsed += r.wall
					cpu += r.cpu
					peak = max(peak, r.maxRSS)
				}
				rate := float64(n*b.N) / elapsed.Seconds()
				perCPU := float64(n*b.N) / cpu.Seconds()
				b.ReportMetric(rate, "events/s")
				b.ReportMetric(perCPU, "events/cpu-s")
				b.ReportMetric(float64(peak)/1024, "peak-RSS-MB")
				b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/replay")
				b.Logf("driftgate audit -o %s over %d events: %s, %.0f events/s; the process used %s of CPU (%.0f events per CPU-second); peak RSS %.1f MB (the benchmark's own, with the JetStream server: %.1f MB)",
					format, n, (elapsed / time.Duration(b.N)).Round(time.Millisecond), rate,
					(cpu / time.Duration(b.N)).Round(time.Millisecond), perCPU, float64(peak)/1024, float64(vmHWM())/1024)
			})
		}
	}
}

type auditRun struct {
	wall, cpu time.Duration // start to exit; user + system CPU
	maxRSS    int64         // kB: the child's VmHWM
}

// runAuditChild runs `driftgate audit -o format` as a process and counts
// the lines it prints.
func runAuditChild(b *testing.B, url, format string, events int) auditRun {
	b.Helper()
	cmd := exec.Command(os.Args[0], "audit", "--nats-url", url, "-o", format)
	hwmFile := filepath.Join(b.TempDir(), "hwm")
	cmd.Env = append(os.Environ(), cliChildEnv+"=1", cliChildHWMEnv+"="+hwmFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines, err := countLines(out)
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("driftgate audit -o %s: %v: %s", format, err, stderr.String())
	}
	d := time.Since(t0)
	want := events
	if format == "table" {
		want++ // the header
	}
	if lines != want {
		b.Fatalf("driftgate audit -o %s printed %d lines, want %d", format, lines, want)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage")
	}
	hwm, err := os.ReadFile(hwmFile)
	if err != nil {
		b.Fatal(err)
	}
	peak, err := strconv.ParseInt(string(hwm), 10, 64)
	if err != nil || peak <= 0 {
		b.Fatalf("the child's VmHWM: %q %v", hwm, err)
	}
	return auditRun{wall: d, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: peak}
}

func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	buf := make([]byte, 1<<20)
	n := 0
	for {
		k, err := br.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
