package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkCost puts driftgate side by side with a full-plan poller on the
// same lab workspace (one namespace and N-1 ConfigMaps, hashicorp/kubernetes
// 1.13.4, S3 state, applied with OpenTofu), at each size N of
// BENCH_COST_SIZES (default 10,300,1000), and reports CPU-seconds per hour
// and detection latency:
//
//   - driftgate: `driftgate run` (watcher, planner, importer, notifier on
//     its embedded JetStream) as its own process, with the defaults
//     (full_plan_interval 10m) and a signed webhook sink on a real HTTP
//     receiver here, at each change rate of BENCH_COST_RATES (default
//     0,1,10 changes per minute). CPU is /proc/<pid>/stat
//     utime+stime+cutime+cstime of that process: its own CPU and that of
//     every tool process it ran and waited for (tofu and its provider).
//     Per hour = the CPU of a measured window of steady changes scaled to
//     an hour, plus 6 x the measured CPU of one full plan (the safety net
//     every 10 minutes: the window holds none; see measureFullPlan).
//     Latency: patch -> the signed drift.detected (or drift.resolved, for
//     a change that puts a ConfigMap back) at the receiver, median. One
//     change and its revert before the first window (warmUp) take the
//     once-per-init show -json check out of the windows.
//   - a full-plan poller: `tofu plan -refresh=true -detailed-exitcode`
//     (same tool, provider and state), every 1 and every 10 minutes. CPU
//     is the rusage of the waited plan (tofu and the provider it waited
//     for), the median of BENCH_COST_POLLS (default 2) plans; per hour =
//     that x 60 (or x 3600/duration when one plan outlasts the minute: the
//     poller runs back to back) and x 6. Latency: the measured plan
//     duration plus the expected wait for the next poll (period/2).
//
// A separate column is the CPU of the lab's kube-apiserver and etcd each
// strategy causes: their /proc stat over the same windows, less their idle
// rate measured with nothing running against them.
//
// The table is printed at the end, every figure is a metric, and the plot
// goes to docs/img/performance-cost.png when every default size ran (to
// bin/performance-cost.png otherwise; BENCH_COST_PLOT names another file).
//
//	cd test && go test -run '^$' -bench Cost -benchtime 1x -timeout 60m ./bench/
func BenchmarkCost(b *testing.B) {
	sizes := envInts(b, "BENCH_COST_SIZES", []int{10, 300, 1000})
	rates := envInts(b, "BENCH_COST_RATES", []int{0, 1, 10})
	polls := envInts(b, "BENCH_COST_POLLS", []int{2})[0]
	bin := buildDriftgate(b)
	l := lab.Start(b)
	var rows []row
	for _, n := range sizes {
		b.Run(fmt.Sprintf("resources=%d", n), func(b *testing.B) {
			rows = append(rows, benchSize(b, l, bin, n, rates, polls)...)
		})
	}
	if b.Failed() || len(rows) == 0 {
		return
	}
	tbl := fmt.Sprintf("cost against a full-plan poller (machine: %d CPUs, shared; 1-minute load average %s during the measurements):\n%s",
		numCPU(), loadRange(), table(rows))
	for _, s := range crossings(rows) {
		tbl += "\n" + s
	}
	logf(b, "%s", tbl)
	if err := os.MkdirAll("../../bin", 0o755); err == nil {
		_ = os.WriteFile("../../bin/performance-cost.txt", []byte(tbl+"\n"), 0o644)
	}
	out := os.Getenv("BENCH_COST_PLOT")
	if out == "" {
		out = "../../bin/performance-cost.png"
		if fmt.Sprint(sizes) == fmt.Sprint([]int{10, 300, 1000}) && fmt.Sprint(rates) == fmt.Sprint([]int{0, 1, 10}) {
			out = "../../docs/img/performance-cost.png"
		}
	}
	if err := drawCost(rows, out); err != nil {
		b.Fatal(err)
	}
	logf(b, "plot written to %s", out)
}

// row is one cell of the table.
type row struct {
	size     int
	strategy string  // stratDriftgate, stratPoll1m, stratPoll10m
	rate     float64 // changes per minute (the poller's cost does not depend on it)
	cpuH     float64 // CPU-s per hour of the strategy's processes
	apiH     float64 // kube-apiserver+etcd CPU-s per hour over idle
	latency  time.Duration
	samples  int    // latencies measured (0: none, or computed)
	how      string // how the row was scaled to an hour
}

const (
	stratDriftgate = "driftgate"
	stratPoll1m    = "poll 1m"
	stratPoll10m   = "poll 10m"
)

// fullPlansPerHour is driftgate's safety net at its default
// full_plan_interval (10m).
const fullPlansPerHour = 6

func benchSize(b *testing.B, l *lab.Lab, bin string, n int, rates []int, polls int) []row {
	ns := fmt.Sprintf("cost-%d", n)
	w := configMaps(b, l, n, ns, fmt.Sprintf("bench/cost-%d.tfstate", n))
	lp := labPIDs(b, l)
	idle := measureIdle(b, lp, 20*time.Second)
	logf(b, "%d resources: kube-apiserver+etcd idle %.3f CPU-s/min", n, idle*60)

	// The poller.
	var cpus, apis []float64
	var durs []time.Duration
	for i := 0; i < polls; i++ {
		cpu, api, d := pollOnce(b, l, w, lp)
		api -= idle * d.Seconds()
		logf(b, "%d resources: full refresh plan %d: %s, %.2f CPU-s, apiserver+etcd %.2f CPU-s over idle; load average %s", n, i+1, d.Round(time.Millisecond), cpu, api, loadavg())
		cpus, apis, durs = append(cpus, cpu), append(apis, api), append(durs, d)
	}
	pcpu, papi, pdur := medianF(cpus), medianF(apis), medianD(durs)
	var rows []row
	for _, p := range []struct {
		name   string
		period time.Duration
	}{{stratPoll1m, time.Minute}, {stratPoll10m, 10 * time.Minute}} {
		per := max(p.period, pdur) // a plan longer than the period: back to back
		k := float64(time.Hour) / float64(per)
		r := row{size: n, strategy: p.name, cpuH: pcpu * k, apiH: papi * k, latency: pdur + per/2,
			how: fmt.Sprintf("one plan (median of %d: %.2f CPU-s, %s) x %.1f per hour; latency = plan + %s/2", polls, pcpu, pdur.Round(time.Millisecond), k, per)}
		for _, rate := range rates {
			r.rate = float64(rate)
			rows = append(rows, r)
		}
	}

	// driftgate.
	d := startDG(b, l, bin, w, ns, n)
	full := d.measureFullPlan(b, lp, idle)
	logf(b, "%d resources: driftgate's full plan %s: %.2f CPU-s, apiserver+etcd %.2f CPU-s over idle (phases %v)",
		n, full.dur.Round(time.Millisecond), full.cpu, full.api, full.phases)
	d.warmUp(b)
	for _, rate := range rates {
		r := d.cell(b, lp, idle, rate)
		r.size = n
		r.cpuH += fullPlansPerHour * full.cpu
		r.apiH += fullPlansPerHour * full.api
		r.how += fmt.Sprintf(" + %d x one full plan (%.2f CPU-s)", fullPlansPerHour, full.cpu)
		rows = append(rows, r)
		b.ReportMetric(r.cpuH, fmt.Sprintf("dg-%dpm-cpu-s/h", rate))
		b.ReportMetric(r.apiH, fmt.Sprintf("dg-%dpm-api-cpu-s/h", rate))
		if r.samples > 0 {
			b.ReportMetric(r.latency.Seconds(), fmt.Sprintf("dg-%dpm-p50-latency-s", rate))
		}
	}
	d.stop(b)
	for _, r := range rows {
		if r.strategy == stratDriftgate || r.rate == float64(rates[0]) {
			logf(b, "per hour, %s at %g/min: %s", r.strategy, r.rate, r.how)
		}
	}
	b.ReportMetric(pcpu*float64(time.Hour)/float64(max(time.Minute, pdur)), "poll1m-cpu-s/h")
	b.ReportMetric(pcpu*6, "poll10m-cpu-s/h")
	b.ReportMetric(pdur.Seconds(), "full-plan-s")
	return rows
}

// configMaps writes and applies a workspace of one namespace and n-1
// ConfigMaps (n resources).
func configMaps(b *testing.B, l *lab.Lab, n int, ns, key string) *lab.Workspace {
	src := b.TempDir()
	main := lab.ConfigMapModule(ns, n-1)
	if err := os.WriteFile(filepath.Join(src, "main.tf"), []byte(main), 0o644); err != nil {
		b.Fatal(err)
	}
	w := l.NewWorkspace(b, src, lab.Tofu, key)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	if err := w.Init(ctx); err != nil {
		b.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		b.Fatal(err)
	}
	logf(b, "%d resources applied in %s", n, time.Since(start).Round(time.Second))
	return w
}

// pollOnce runs the poller's plan once: its CPU (rusage of tofu and the
// children it waited for), the apiserver+etcd CPU over its run, and its
// duration.
func pollOnce(b *testing.B, l *lab.Lab, w *lab.Workspace, lp []int) (cpu, api float64, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.BinaryPath(lab.Tofu), "plan", "-refresh=true", "-lock=false", "-input=false", "-no-color", "-detailed-exitcode")
	cmd.Dir, cmd.Env = w.Dir, append(os.Environ(), l.Env()...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	a0 := cpuOf(b, lp...)
	start := time.Now()
	err := cmd.Run()
	d = time.Since(start)
	a1 := cpuOf(b, lp...)
	// Exit 0: no changes (the poller runs before driftgate's cells change
	// anything); 2: drift, which costs the same plan.
	if err != nil && cmd.ProcessState.ExitCode() != 2 {
		b.Fatalf("tofu plan: %v\n%s", err, tail(out.String(), 2000))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = tv(ru.Utime) + tv(ru.Stime)
	return cpu, a1 - a0, d
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

// patchCM sets data.index of cm-j in ns.
func patchCM(b *testing.B, l *lab.Lab, ns string, j int, value string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body := fmt.Sprintf(`{"data":{"index":%q}}`, value)
	if _, err := l.Kube().CoreV1().ConfigMaps(ns).Patch(ctx, fmt.Sprintf("cm-%d", j), types.MergePatchType, []byte(body),
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		b.Fatalf("patch %s/cm-%d: %v", ns, j, err)
	}
}

// measureIdle is the apiserver+etcd CPU rate (CPU-s per second) over d
// with nothing running against them.
func measureIdle(b *testing.B, lp []int, d time.Duration) float64 {
	a0 := cpuOf(b, lp...)
	time.Sleep(d) // the measurement window itself
	return (cpuOf(b, lp...) - a0) / d.Seconds()
}

func labPIDs(b *testing.B, l *lab.Lab) []int {
	pids := l.PIDs()
	var out []int
	for _, c := range []string{lab.ComponentAPIServer, lab.ComponentEtcd} {
		p, ok := pids[c]
		if !ok {
			b.Fatalf("lab: no %s process", c)
		}
		out = append(out, p)
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// procCPU is utime+stime+cutime+cstime of pid in seconds: its own CPU and
// that of its waited-for children.
func procCPU(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime..cstime are fields 14..17.
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	var sum int64
	for _, k := range f[11:15] {
		v, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		sum += v
	}
	return float64(sum) / clockTicks, nil
}

func cpuOf(b *testing.B, pids ...int) float64 {
	var sum float64
	for _, p := range pids {
		v, err := procCPU(p)
		if err != nil {
			b.Fatal(err)
		}
		sum += v
	}
	return sum
}

func buildDriftgate(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "driftgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/driftgate")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/driftgate: %v\n%s", err, out)
	}
	return bin
}

func envInts(b *testing.B, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 0 {
			b.Fatalf("%s: %q is not a list of counts", name, v)
		}
		out = append(out, n)
	}
	return out
}

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianD(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(medianF(f))
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// loads are the load averages loadavg read, for the table's header.
var loads []float64

// loadavg is the machine's 1-minute load average (the machine is shared).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	v := strings.Fields(string(b))[0]
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		loads = append(loads, f)
	}
	return v
}

// loadRange is the lowest and highest load average seen.
func loadRange() string {
	if len(loads) == 0 {
		return "?"
	}
	lo, hi := loads[0], loads[0]
	for _, v := range loads {
		lo, hi = min(lo, v), max(hi, v)
	}
	return fmt.Sprintf("%.1f-%.1f", lo, hi)
}

// logf prints a line of the benchmark's report to stdout at once: b.Logf
// output of a benchmark is cut to its first ten lines.
func logf(b *testing.B, format string, args ...any) {
	b.Helper()
	msg := fmt.Sprintf(format, args...)
	fmt.Printf("    %s: %s\n", b.Name(), strings.ReplaceAll(msg, "\n", "\n    "))
}
