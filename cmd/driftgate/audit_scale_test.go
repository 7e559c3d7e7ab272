package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

// cliChildEnv makes the test binary run as the driftgate command (TestMain),
// so a benchmark can measure one command's process alone.
const cliChildEnv = "DRIFTGATE_CLI_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(cliChildEnv) != "" {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// auditEventsEnv shrinks BenchmarkAuditScale's largest stream (default
// 1,000,000 events).
const auditEventsEnv = "DRIFTGATE_BENCH_AUDIT_EVENTS"

// BenchmarkAuditScale replays a JetStream stream (in-process server, file
// storage) of 100,000 and then 1,000,000 events with `driftgate audit -o
// jsonl` and `-o table`, each run as a process of its own writing into a
// pipe the benchmark reads: wall time from the process's start to its exit,
// events/s, and the process's peak RSS (getrusage's ru_maxrss), which
// stays flat when the replay holds one batch at a time.
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
				b.Logf("driftgate audit -o %s over %d events: %s, %.0f events/s; the process used %s of CPU (%.0f events per CPU-second); peak RSS %.1f MB",
					format, n, (elapsed / time.Duration(b.N)).Round(time.Millisecond), rate,
					(cpu / time.Duration(b.N)).Round(time.Millisecond), perCPU, float64(peak)/1024)
			})
		}
	}
}

type auditRun struct {
	wall, cpu time.Duration // start to exit; user + system CPU
	maxRSS    int64         // kB
}

// runAuditChild runs `driftgate audit -o format` as a process and counts
// the lines it prints.
func runAuditChild(b *testing.B, url, format string, events int) auditRun {
	b.Helper()
	cmd := exec.Command(os.Args[0], "audit", "--nats-url", url, "-o", format)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1")
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
	return auditRun{wall: d, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: ru.Maxrss}
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
