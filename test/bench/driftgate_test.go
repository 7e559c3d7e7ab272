package bench_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

const hookSecret = "whsec-bench-cost-5b2e91"

// dg is one `driftgate run` process of the benchmark and what it is
// measured with.
type dg struct {
	l       *lab.Lab
	ws, ns  string
	cms     int // ConfigMaps the cells change (cm-0 … cm-<cms-1>)
	pid     int
	started time.Time
	cmd     *exec.Cmd
	exited  chan struct{}
	log     string
	hook    *receiver
	plans   *planLog
	series  *sampler
	cancel  context.CancelFunc
	// drifted: cm-j is changed live (its next change puts it back).
	drifted []bool
	seq     int
}

// startDG starts driftgate for w and returns once its startup plan (a full
// plan, after tofu init of the planner's working copy) has completed.
func startDG(b *testing.B, l *lab.Lab, bin string, w *lab.Workspace, ns string, size int) *dg {
	dir := b.TempDir()
	hook := newReceiver(b)
	var bc strings.Builder
	for k, v := range l.BackendConfig(lab.Tofu, w.Key) {
		if strings.HasPrefix(v, "{") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fmt.Fprintf(&bc, "      %s: %q\n", k, v)
	}
	cfg := filepath.Join(dir, "driftgate.yaml")
	// Defaults everywhere but what the lab needs: full_plan_interval 10m,
	// the planner's debounce, the notifier's digest window.
	yml := fmt.Sprintf(`clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [configmaps, namespaces]
  namespaces: [%s]
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    namespaces: [%s]
notify:
  sinks:
    - {name: hook, webhook: {url: %q, secret_env: DRIFTGATE_WEBHOOK_SECRET}}
  routes:
    - {match: {types: [drift.detected, drift.resolved]}, sinks: [hook]}
`, l.Kubeconfig, ns, ns, w.Dir, l.BinaryPath(lab.Tofu), bc.String(), ns, hook.srv.URL+"/hook")
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(), l.Env()...)
	env = append(env, "DRIFTGATE_WEBHOOK_SECRET="+hookSecret, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	d := &dg{l: l, ws: ns, ns: ns, cms: min(9, size-1), hook: hook}
	d.drifted = make([]bool, d.cms)
	d.start(b, bin, cfg, dir, env)
	p := d.waitPlan(b, 15*time.Minute, d.isStartup)
	if p.Error != "" {
		b.Fatalf("driftgate's startup plan failed: %s", p.Error)
	}
	return d
}

func (d *dg) start(b *testing.B, bin, cfg, dir string, env []string) {
	listen, httpAddr := freePort(b), freePort(b)
	d.log = filepath.Join(dir, "driftgate.log")
	lf, err := os.Create(d.log)
	if err != nil {
		b.Fatal(err)
	}
	d.cmd = exec.Command(bin, "run", "--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--listen", listen, "--http", httpAddr)
	d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = env, lf, lf
	// It dies with the benchmark, however that ends.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	d.pid, d.exited = d.cmd.Process.Pid, make(chan struct{})
	go func() { _ = d.cmd.Wait(); lf.Close(); close(d.exited) }()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	b.Cleanup(func() { d.stop(b) })
	d.series = startSampler(ctx, d.pid, labPIDs(b, d.l))
	d.plans = followPlans(ctx, b, d, "nats://"+listen, filepath.Join(dir, "data", "nats.token"))
}

// stop ends the process (SIGTERM; killed after a minute).
func (d *dg) stop(b *testing.B) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cancel()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	if b.Failed() {
		out, _ := os.ReadFile(d.log)
		logf(b, "driftgate run log (tail):\n%s", tail(string(out), 8000))
	}
}

// fullPlan is the measured cost of one full plan.
type fullPlan struct {
	cpu, api float64
	dur      time.Duration
	phases   map[string]int64
}

// measureFullPlan is the CPU of driftgate's startup plan, a full plan,
// less its tofu init (which a safety-net plan does not run), from the
// 100 ms CPU samples: from the first sample 150 ms after the prepare phase
// (init) ended (its process has been waited for by then; the plan's tool
// process has not) to the first one 200 ms after the plan completed (its
// tool processes have been waited for by then). It includes what the rest
// of the process did meanwhile (the watcher, JetStream, the notifier), so
// it is an upper bound.
func (d *dg) measureFullPlan(b *testing.B, lp []int, idle float64) fullPlan {
	var p *events.PlanCompleted
	for _, x := range d.plans.all() {
		if d.isStartup(x) {
			p = x
		}
	}
	if p == nil || !p.Full {
		b.Fatalf("no full startup plan: %+v", p)
	}
	ms := func(k string) time.Duration { return time.Duration(p.PhasesMS[k]) * time.Millisecond }
	from := p.StartedAt.Add(ms("index") + ms("scope") + ms("prepare") + 150*time.Millisecond)
	end := p.StartedAt.Add(time.Duration(p.DurationMS)*time.Millisecond + 200*time.Millisecond)
	d.series.waitPast(end)
	s0, s1 := d.series.after(from), d.series.after(end)
	return fullPlan{cpu: s1.dg - s0.dg, api: s1.api - s0.api - idle*s1.at.Sub(s0.at).Seconds(),
		dur: time.Duration(p.DurationMS)*time.Millisecond - ms("prepare"), phases: p.PhasesMS}
}

// warmUp changes one ConfigMap and puts it back, outside every window, and
// logs the CPU it took: the first plan with changes after an init also
// runs show -json once, to check the native plan file decoder against it
// (pkg/plan), and the first targeted plan inits the working copy targeted
// plans run in on a scoped state — one-offs per init (a process start, a
// new module or lock file) that the first change cell's window, scaled to
// an hour, would count 20 times (1/min: three changes in 3 minutes).
func (d *dg) warmUp(b *testing.B) {
	c0 := cpuOf(b, d.pid)
	start := time.Now()
	addr := d.ws + "/kubernetes_config_map.cm[0]"
	at := time.Now()
	patchCM(b, d.l, d.ns, 0, "warm-up")
	d.hook.wait(b, d, events.TypeDriftDetected, addr, at, 5*time.Minute)
	at = time.Now()
	patchCM(b, d.l, d.ns, 0, "0")
	d.hook.wait(b, d, events.TypeDriftResolved, addr, at, 5*time.Minute)
	logf(b, "warm-up (one change and its revert; the first runs the once-per-init show -json check and the scoped copy's init): %.2f CPU-s over %s",
		cpuOf(b, d.pid)-c0, time.Since(start).Round(time.Millisecond))
}

// cell measures one change rate. At rate 0 it is the CPU over an idle
// window (BENCH_COST_IDLE, default 60s). Otherwise changes come every
// 60s/rate, at least BENCH_COST_CHANGES (default 3) of them and at least
// BENCH_COST_MIN_WINDOW (default 90s) of them; the window W is their count x the period, from the first
// change; its CPU is read once the last change's alert has arrived (and W
// has passed), so a window holds the whole work of its changes and a few
// idle seconds more. Per hour = window CPU x 1h/W. A change sets
// data.index of one of the first nine ConfigMaps, round robin; the next
// change of the same ConfigMap puts it back (drift.resolved).
func (d *dg) cell(b *testing.B, lp []int, idle float64, rate int) row {
	r := row{size: 0, strategy: stratDriftgate, rate: float64(rate)}
	mark := len(d.plans.all())
	var window time.Duration
	var lat []time.Duration
	c0, a0 := cpuOf(b, d.pid), cpuOf(b, lp...)
	start := time.Now()
	if rate == 0 {
		window = envDur(b, "BENCH_COST_IDLE", time.Minute)
		time.Sleep(window) // the measurement window itself
	} else {
		period := time.Minute / time.Duration(rate)
		minWindow := envDur(b, "BENCH_COST_MIN_WINDOW", 90*time.Second)
		k := max(envInts(b, "BENCH_COST_CHANGES", []int{3})[0], int((minWindow+period-1)/period))
		window = time.Duration(k) * period
		type change struct {
			at   time.Time
			addr string
			typ  string
		}
		var changes []change
		for i := 0; i < k; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * period))) // the schedule of changes
			j := d.seq % d.cms
			d.seq++
			typ, val := events.TypeDriftDetected, fmt.Sprintf("changed-%d", d.seq)
			if d.drifted[j] {
				typ, val = events.TypeDriftResolved, strconv.Itoa(j)
			}
			at := time.Now()
			patchCM(b, d.l, d.ns, j, val)
			d.drifted[j] = !d.drifted[j]
			changes = append(changes, change{at, fmt.Sprintf("kubernetes_config_map.cm[%d]", j), typ})
		}
		for _, c := range changes {
			got := d.hook.wait(b, d, c.typ, d.ws+"/"+c.addr, c.at, 5*time.Minute)
			lat = append(lat, got.Sub(c.at))
		}
		time.Sleep(time.Until(start.Add(window))) // the rest of the window
	}
	elapsed := time.Since(start)
	c1, a1 := cpuOf(b, d.pid), cpuOf(b, lp...)
	cpu, api := c1-c0, a1-a0-idle*elapsed.Seconds()
	// The safety net is added separately; a full plan inside the window
	// (none expected: the process lives less than full_plan_interval)
	// would be counted twice.
	var plans, full, scoped int
	var planDur []time.Duration
	phases := map[string][]time.Duration{}
	for _, p := range d.plans.all()[mark:] {
		plans++
		if p.Full {
			full++
		}
		if p.ScopedState {
			scoped++
		}
		planDur = append(planDur, time.Duration(p.DurationMS)*time.Millisecond)
		for k, v := range p.PhasesMS {
			phases[k] = append(phases[k], time.Duration(v)*time.Millisecond)
		}
	}
	if plans > 0 {
		var ph []string
		for k, v := range phases {
			if m := medianD(v); m >= 10*time.Millisecond {
				ph = append(ph, fmt.Sprintf("%s %s", k, m.Round(10*time.Millisecond)))
			}
		}
		sort.Strings(ph)
		logf(b, "%d/min: plans %s, p50 phases: %s", rate, durs(planDur), strings.Join(ph, ", "))
	}
	if full > 0 {
		b.Errorf("%d full plans inside the window: the process outlived full_plan_interval", full)
	}
	k := float64(time.Hour) / float64(window)
	r.cpuH, r.apiH = cpu*k, api*k
	r.how = fmt.Sprintf("%.2f CPU-s over %s (%d plans) x %.1f", cpu, elapsed.Round(time.Second), plans, k)
	if len(lat) > 0 {
		r.latency, r.samples = medianD(lat), len(lat)
		logf(b, "%d/min: change -> signed webhook %s", rate, durs(lat))
	}
	logf(b, "%d/min: driftgate %.2f CPU-s over %s (W %s, %d targeted plans, %d on a scoped state), apiserver+etcd %.2f CPU-s over idle; load average %s",
		rate, cpu, elapsed.Round(time.Millisecond), window, plans, scoped, api, loadavg())
	return r
}

func durs(d []time.Duration) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = strconv.FormatInt(x.Milliseconds(), 10)
	}
	return "[" + strings.Join(parts, " ") + "] ms"
}

func envDur(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s: %q is not a duration", name, v)
	}
	return d
}

// isStartup: p is the startup plan.
func (d *dg) isStartup(p *events.PlanCompleted) bool {
	return p.Trigger == "startup" && p.StartedAt.After(d.started)
}

// waitPlan waits for a plan.completed that match accepts.
func (d *dg) waitPlan(b *testing.B, limit time.Duration, match func(*events.PlanCompleted) bool) *events.PlanCompleted {
	deadline := time.Now().Add(limit)
	for {
		for _, p := range d.plans.all() {
			if match(p) {
				return p
			}
		}
		select {
		case <-d.exited:
			out, _ := os.ReadFile(d.log)
			b.Fatalf("driftgate run exited:\n%s", tail(string(out), 4000))
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no plan.completed within %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// planLog is every plan.completed of the run, in stream order.
type planLog struct {
	mu    sync.Mutex
	plans []*events.PlanCompleted
}

func (p *planLog) all() []*events.PlanCompleted {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*events.PlanCompleted(nil), p.plans...)
}

// followPlans connects to the run's embedded NATS (its token file appears
// once it is up) and collects plan.completed events.
func followPlans(ctx context.Context, b *testing.B, d *dg, url, tokenFile string) *planLog {
	pl := &planLog{}
	deadline := time.Now().Add(2 * time.Minute)
	var nc *nats.Conn
	for {
		tok, err := os.ReadFile(tokenFile)
		if err == nil {
			nc, err = nats.Connect(url, nats.Token(strings.TrimSpace(string(tok))))
			if err == nil {
				js, _ := jetstream.New(nc)
				var c jetstream.Consumer
				c, err = js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
					FilterSubjects: []string{events.TypeSubject(events.TypePlanCompleted) + ".>"}})
				if err == nil {
					_, err = c.Consume(func(m jetstream.Msg) {
						if _, data, err := events.Decode(m.Data()); err == nil {
							if p, ok := data.(*events.PlanCompleted); ok {
								pl.mu.Lock()
								pl.plans = append(pl.plans, p)
								pl.mu.Unlock()
							}
						}
					})
				}
				if err == nil {
					break
				}
				nc.Close()
			}
		}
		select {
		case <-d.exited:
			out, _ := os.ReadFile(d.log)
			b.Fatalf("driftgate run exited:\n%s", tail(string(out), 4000))
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("driftgate's NATS: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	go func() { <-ctx.Done(); nc.Close() }()
	return pl
}

// sampler reads the CPU of the driftgate process and of the lab's
// apiserver+etcd every 100 ms.
type sampler struct {
	mu  sync.Mutex
	pts []sample
}

type sample struct {
	at      time.Time
	dg, api float64
}

func startSampler(ctx context.Context, pid int, lp []int) *sampler {
	s := &sampler{}
	read := func() (sample, bool) {
		v, err := procCPU(pid)
		if err != nil {
			return sample{}, false
		}
		var a float64
		for _, p := range lp {
			x, err := procCPU(p)
			if err != nil {
				return sample{}, false
			}
			a += x
		}
		return sample{time.Now(), v, a}, true
	}
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if x, ok := read(); ok {
				s.mu.Lock()
				s.pts = append(s.pts, x)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) waitPast(t time.Time) {
	for {
		s.mu.Lock()
		ok := len(s.pts) > 0 && s.pts[len(s.pts)-1].at.After(t)
		s.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// after is the first sample at or after t.
func (s *sampler) after(t time.Time) sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pts {
		if !p.at.Before(t) {
			return p
		}
	}
	return s.pts[len(s.pts)-1]
}

// receiver is a signed-webhook endpoint: it verifies each request as
// docs/webhooks.md says and records each event's type, subject and arrival.
type receiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookEvent
	bad int
}

type hookEvent struct {
	typ, subject string
	at           time.Time
}

func newReceiver(b *testing.B) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		at := time.Now()
		body, err := io.ReadAll(io.LimitReader(req.Body, 8<<20))
		ts := req.Header.Get("X-Driftgate-Timestamp")
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if err != nil || !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Driftgate-Signature"))) {
			r.mu.Lock()
			r.bad++
			r.mu.Unlock()
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		type ce struct {
			Type    string `json:"type"`
			Subject string `json:"subject"`
		}
		var evs []ce
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
			err = json.Unmarshal(body, &evs)
		} else {
			var e ce
			err = json.Unmarshal(body, &e)
			evs = append(evs, e)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, e := range evs {
			r.got = append(r.got, hookEvent{e.Type, e.Subject, at})
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(r.srv.Close)
	return r
}

// wait returns the arrival of the first event of type typ about subject
// that arrived after since.
func (r *receiver) wait(b *testing.B, d *dg, typ, subject string, since time.Time, limit time.Duration) time.Time {
	deadline := time.Now().Add(limit)
	for {
		r.mu.Lock()
		for _, e := range r.got {
			if e.typ == typ && e.subject == subject && e.at.After(since) {
				r.mu.Unlock()
				return e.at
			}
		}
		bad := r.bad
		r.mu.Unlock()
		if bad > 0 {
			b.Fatalf("%d webhook requests failed the signature check", bad)
		}
		select {
		case <-d.exited:
			b.Fatalf("driftgate run exited waiting for %s %s", typ, subject)
		default:
		}
		if time.Now().After(deadline) {
			b.Fatalf("no %s about %s at the webhook within %s", typ, subject, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
