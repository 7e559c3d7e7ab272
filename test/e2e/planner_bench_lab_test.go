package e2e_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/service/servicetest"
	"github.com/driftgate/driftgate/services/notifier"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkPlannerLab measures, against the lab with the planner's default
// debounce and maximum wait (OpenTofu unless named):
//
//   - ChangeToDrift/{tofu,terraform}: the time from a live change to
//     drift.detected and to the signed alert (the webhook the notifier
//     posts, received by an HTTP server that verifies its HMAC), p50/p95
//     over the even ones of 20 changes of kubernetes_deployment.marketplace,
//     against a bare `plan -target` of the same address timed in the same
//     run right after each odd change, while the benchmark holds the
//     planner's lease (so both are timed under the load a change causes,
//     alternately); ratio_p50 and ratio_p95 are alert / that bare plan, and
//     ratio_after_alert_* against a bare plan timed after each alert (the
//     method before 2026-12-03); one untimed change first takes the
//     once-per-init show -json check out of the samples;
//   - WorkspaceSize: that time for one change in a 10-resource and a
//     500-resource workspace (p50 over 11 changes of
//     kubernetes_config_map.cm[0] in each), both workspaces in one
//     pipeline and the sizes taking turns change by change so that both
//     see the same machine load; after each detection it times the bare
//     `plan -target` and, by hand, the two tool runs the planner makes
//     (`plan -target -out` and `show -json`), so the ratio can be read
//     against the tool's own growth; plan.completed's phases_ms gives the
//     planner's breakdown;
//   - Burst1000: the number of plans for 1,000 changes in one second.
//
// Each runs once whatever b.N is (make bench runs -benchtime 1x).
func BenchmarkPlannerLab(b *testing.B) {
	l := lab.Start(b)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		b.Run("ChangeToDrift/"+string(bin), func(b *testing.B) { benchChangeToDrift(b, l, bin) })
	}
	b.Run("WorkspaceSize", func(b *testing.B) { benchWorkspaceSize(b, l) })
	b.Run("Burst1000", func(b *testing.B) { benchBurst(b, l) })
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchPipeline starts a watcher and a planner (defaults) for cfg.
func benchPipeline(b *testing.B, l *lab.Lab, cfg *config.File) (*eventstest.Env, *stream) {
	cfg.Planner = config.Planner{}
	env := eventstest.Start(b)
	s := collect(b, env)
	startWatcher(b, env, cfg, "watcher-1")
	startPlanner(b, env, cfg, "planner-1", b.TempDir(), planner.WithEnviron(toolEnv(l)))
	s.wait(0, 5*time.Minute, "the startup plan", planCompleted(cfg.Workspaces[0].Name, ""))
	return env, s
}

// target is one object the benchmarks change, and its address.
type target struct {
	w                    *lab.Workspace
	addr                 string
	resource, ns, name   string
	change, revert       string // merge patches; change has a %d
	bin                  lab.Binary
	withTool             bool       // also time the tool's own plan -out + show -json
	hook                 *alertHook // nil: no notifier in the loop
	pipeline, bare, tool []time.Duration
	// leases and lease (the planner's lease of the workspace, planner.<name>)
	// let changeToDrift alternate which runs first: nil, every change times
	// the pipeline first and the bare plan after the alert.
	leases    jetstream.KeyValue
	lease     string
	bareFirst []time.Duration // bare plan -target started right after the change
	alerted   []time.Duration
	watched   []time.Duration
	phases    map[string][]time.Duration
}

// measure patches the object once and times patch -> drift.detected; after
// the detection it times a bare plan -target of the address (and, with
// withTool, the planner's two tool runs by hand: plan -target -out and
// show -json), then patches the field back and waits for drift.resolved.
// It keeps the phases of the detecting plan (plan.completed's phases_ms).
func (t *target) measure(b *testing.B, l *lab.Lab, s *stream, i int) {
	if t.phases == nil {
		t.phases = map[string][]time.Duration{}
	}
	ctx := context.Background()
	m := s.mark()
	start := time.Now()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, fmt.Sprintf(t.change, i+3))
	r := s.wait(m, 2*time.Minute, "drift.detected", detected(t.addr, events.ClassChanged))
	t.pipeline = append(t.pipeline, r.At.Sub(start))
	planID := r.Data.(*events.DriftDetected).PlanID
	if t.hook != nil {
		at := t.hook.wait(b, r.Event.ID(), 2*time.Minute)
		t.alerted = append(t.alerted, at.Sub(start))
	}
	pc := s.wait(m, 2*time.Minute, "plan.completed", func(d events.Data) bool {
		pc, ok := d.(*events.PlanCompleted)
		return ok && pc.PlanID == planID
	}).Data.(*events.PlanCompleted)
	for k, v := range pc.PhasesMS {
		t.phases[k] = append(t.phases[k], time.Duration(v)*time.Millisecond)
	}
	t.phases["(change->plan start)"] = append(t.phases["(change->plan start)"], pc.StartedAt.Sub(start))
	t.phases["(plan start->drift.detected)"] = append(t.phases["(plan start->drift.detected)"], r.At.Sub(pc.StartedAt))
	for _, rec := range s.since(m) {
		if oc, ok := rec.Data.(*events.ObjectChanged); ok && oc.Object.Name == t.name && oc.Object.Namespace == t.ns {
			t.watched = append(t.watched, rec.At.Sub(start))
			break
		}
	}
	bs := time.Now()
	if _, err := t.w.TF.Plan(ctx, tfexec.Target(t.addr), tfexec.Lock(false), tfexec.Refresh(true)); err != nil {
		b.Fatal(err)
	}
	t.bare = append(t.bare, time.Since(bs))
	if t.withTool {
		t.tool = append(t.tool, toolPlanShow(b, l, t.w, t.bin, t.addr))
	}
	m = s.mark()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, t.revert)
	s.wait(m, 2*time.Minute, "drift.resolved", resolved(r.Data.(*events.DriftDetected).Finding.ID))
}

// toolPlanShow times, by hand, the two tool runs the planner makes for a
// change: plan -target -out, then show -json of the plan file (its output
// discarded unread).
func toolPlanShow(b *testing.B, l *lab.Lab, w *lab.Workspace, bin lab.Binary, addr string) time.Duration {
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "bench.tfplan")
	start := time.Now()
	if _, err := w.TF.Plan(ctx, tfexec.Target(addr), tfexec.Lock(false), tfexec.Refresh(true), tfexec.Out(file)); err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, l.BinaryPath(bin), "show", "-json", "-no-color", file)
	cmd.Dir, cmd.Env = w.Dir, toolEnv(l)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("show -json: %v: %s", err, stderr.String())
	}
	return time.Since(start)
}

// report logs the watcher's share and the detecting plans' phases.
func (t *target) report(b *testing.B, label string) {
	if len(t.watched) > 0 {
		b.Logf("%s: change -> object.changed p50 %s (the watcher's share)", label, percentile(t.watched, .5).Round(time.Millisecond))
	}
	if len(t.phases) > 0 {
		b.Logf("%s: phases of the detecting plans, p50: %s", label, phaseSummary(t.phases))
	}
	b.Logf("%s: change -> drift.detected %s; bare plan -target %s", label, samples(t.pipeline), samples(t.bare))
	if len(t.alerted) > 0 {
		b.Logf("%s: change -> signed webhook received %s", label, samples(t.alerted))
	}
	if len(t.tool) > 0 {
		b.Logf("%s: plan -target -out + show -json %s", label, samples(t.tool))
	}
}

// samples lists durations in the order measured, in milliseconds.
func samples(d []time.Duration) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = strconv.FormatInt(x.Milliseconds(), 10)
	}
	return "[" + strings.Join(parts, " ") + "] ms"
}

// changeToDrift measures n changes of one object. With t.leases set the
// changes alternate which runs first: an even change times the pipeline
// (target.measure: change -> alert, then a bare plan after it), an odd one a
// bare plan started right after the change while the planner waits
// (target.measureBareFirst), so the bare plan is also timed under the load a
// change itself causes, not only on a settled machine.
func changeToDrift(b *testing.B, l *lab.Lab, s *stream, t *target, n int) {
	if t.leases != nil {
		t.warmUp(b, l, s)
	}
	for i := 0; i < n; i++ {
		if t.leases != nil && i%2 == 1 {
			t.measureBareFirst(b, l, s, i)
			continue
		}
		t.measure(b, l, s, i)
	}
	t.report(b, t.addr)
	if len(t.bareFirst) > 0 {
		b.Logf("%s: bare plan -target right after the change (the planner waiting) %s", t.addr, samples(t.bareFirst))
	}
}

// warmUp makes one change and puts it back, untimed: the first plan with
// changes after an init also runs show -json once, to check the native
// plan file decoder against it (pkg/plan), so the first change after a
// start is slower by a show -json; that one-off is logged, not sampled.
func (t *target) warmUp(b *testing.B, l *lab.Lab, s *stream) {
	m := s.mark()
	start := time.Now()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, fmt.Sprintf(t.change, 1))
	r := s.wait(m, 2*time.Minute, "drift.detected", detected(t.addr, events.ClassChanged))
	b.Logf("%s: warm-up change -> drift.detected %s (the first plan with changes after init also runs show -json)",
		t.addr, r.At.Sub(start).Round(time.Millisecond))
	if t.hook != nil {
		t.hook.wait(b, r.Event.ID(), 2*time.Minute)
	}
	m = s.mark()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, t.revert)
	s.wait(m, 2*time.Minute, "drift.resolved", resolved(r.Data.(*events.DriftDetected).Finding.ID))
}

// measureBareFirst holds the workspace's planner lease, patches the object
// and times a bare plan -target of the address at once — the moment the
// planner's own plan would start, while the watcher, the apiserver and the
// controller manager react to the change — then releases the lease, lets
// the planner detect the change (untimed: the planner retries a held lease
// a fifth of its TTL later), patches the field back and waits for
// drift.resolved.
func (t *target) measureBareFirst(b *testing.B, l *lab.Lab, s *stream, i int) {
	ctx := context.Background()
	var lease *events.Lease
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		lease, err = events.AcquireLease(ctx, t.leases, t.lease, "benchmark", 5*time.Minute)
		if err == nil {
			break
		}
		if !errors.Is(err, events.ErrLeaseHeld) || time.Now().After(deadline) {
			b.Fatalf("hold the planner's lease %s: %v", t.lease, err)
		}
		time.Sleep(20 * time.Millisecond) // the planner releases it when its plan ends
	}
	m := s.mark()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, fmt.Sprintf(t.change, i+3))
	bs := time.Now()
	if _, err := t.w.TF.Plan(ctx, tfexec.Target(t.addr), tfexec.Lock(false), tfexec.Refresh(true)); err != nil {
		b.Fatal(err)
	}
	t.bareFirst = append(t.bareFirst, time.Since(bs))
	if err := lease.Release(ctx); err != nil {
		b.Fatal(err)
	}
	r := s.wait(m, 2*time.Minute, "drift.detected", detected(t.addr, events.ClassChanged))
	if t.hook != nil {
		t.hook.wait(b, r.Event.ID(), 2*time.Minute)
	}
	m = s.mark()
	patch(b, l, "kubectl-patch", t.resource, t.ns, t.name, t.revert)
	s.wait(m, 2*time.Minute, "drift.resolved", resolved(r.Data.(*events.DriftDetected).Finding.ID))
}

// phaseSummary formats the p50 of each phase.
func phaseSummary(phases map[string][]time.Duration) string {
	names := make([]string, 0, len(phases))
	for k := range phases {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s %s", k, percentile(phases[k], .5).Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

func benchChangeToDrift(b *testing.B, l *lab.Lab, bin lab.Binary) {
	ns := "bench-" + string(bin)
	w := prepare(b, l, marketplaceSrc, bin, "bench/"+string(bin)+"/marketplace.tfstate", map[string]string{"namespace": `"` + ns + `"`})
	apply(b, w)
	cfg := workspaceConfig(l, "marketplace", w.Dir, bin, ns)
	hook := startAlertHook(b)
	cfg.Notify = config.Notify{Sinks: []config.Sink{{Name: "hook", Webhook: &config.WebhookSink{URL: hook.url, SecretEnv: "BENCH_WEBHOOK_SECRET"}}}}
	env, s := benchPipeline(b, l, cfg)
	startNotifier(b, env, cfg, hook.secret)
	b.ResetTimer()
	t := &target{w: w, addr: "kubernetes_deployment.marketplace", resource: "deployments", ns: ns, name: "marketplace",
		change: `{"spec":{"replicas":%d}}`, revert: `{"spec":{"replicas":2}}`, bin: bin, hook: hook,
		leases: env.Buckets.Leases, lease: "planner." + cfg.Workspaces[0].Name}
	changeToDrift(b, l, s, t, benchChanges())
	b.StopTimer()
	if hook.bad.Load() > 0 {
		b.Errorf("%d webhook deliveries failed the HMAC check", hook.bad.Load())
	}
	p50, p95 := percentile(t.pipeline, .5), percentile(t.pipeline, .95)
	a50, a95 := percentile(t.alerted, .5), percentile(t.alerted, .95)
	// The floor: a bare plan started right after a change (odd changes),
	// under the same load as the planner's plan of a change (even ones).
	f50, f95 := percentile(t.bareFirst, .5), percentile(t.bareFirst, .95)
	// The bare plan after the alert, on a settled machine: the floor
	// before 2026-12-03, kept to compare.
	b50, b95 := percentile(t.bare, .5), percentile(t.bare, .95)
	b.ReportMetric(ms(p50), "p50-change-to-drift-ms")
	b.ReportMetric(ms(p95), "p95-change-to-drift-ms")
	b.ReportMetric(ms(a50), "p50-change-to-alert-ms")
	b.ReportMetric(ms(a95), "p95-change-to-alert-ms")
	b.ReportMetric(ms(f50), "p50-bare-plan-ms")
	b.ReportMetric(ms(f95), "p95-bare-plan-ms")
	b.ReportMetric(ms(b50), "p50-bare-plan-after-alert-ms")
	b.ReportMetric(ms(b95), "p95-bare-plan-after-alert-ms")
	b.ReportMetric(float64(a50)/float64(f50), "ratio_p50")
	b.ReportMetric(float64(a95)/float64(f95), "ratio_p95")
	b.ReportMetric(float64(a50)/float64(b50), "ratio_after_alert_p50")
	b.ReportMetric(float64(a95)/float64(b95), "ratio_after_alert_p95")
	b.ReportMetric(float64(p50)/float64(f50), "drift_ratio_p50")
	b.ReportMetric(float64(p95)/float64(f95), "drift_ratio_p95")
	b.Logf("change->signed alert p50 %s p95 %s; change->drift.detected p50 %s p95 %s; "+
		"bare plan -target right after a change p50 %s p95 %s, after the alert p50 %s p95 %s; "+
		"alert ratio p50 %.2f p95 %.2f (against the bare plan after the alert: %.2f, %.2f); drift.detected ratio p50 %.2f p95 %.2f",
		a50.Round(time.Millisecond), a95.Round(time.Millisecond), p50.Round(time.Millisecond), p95.Round(time.Millisecond),
		f50.Round(time.Millisecond), f95.Round(time.Millisecond), b50.Round(time.Millisecond), b95.Round(time.Millisecond),
		float64(a50)/float64(f50), float64(a95)/float64(f95), float64(a50)/float64(b50), float64(a95)/float64(b95),
		float64(p50)/float64(f50), float64(p95)/float64(f95))
}

// alertHook is a webhook receiver as docs/webhooks.md tells one to be: it
// verifies each delivery's HMAC signature and timestamp, and records when
// each drift.detected event arrived.
type alertHook struct {
	url    string
	secret string
	bad    atomic.Int64
	mu     sync.Mutex
	cond   *sync.Cond
	got    map[string]time.Time // event id -> received
}

func startAlertHook(b *testing.B) *alertHook {
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	h := &alertHook{secret: hex.EncodeToString(key), got: map[string]time.Time{}}
	h.cond = sync.NewCond(&h.mu)
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	b.Cleanup(srv.Close)
	h.url = srv.URL + "/hook"
	return h
}

func (h *alertHook) serve(rw http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	ts, sig := r.Header.Get("X-Driftgate-Timestamp"), r.Header.Get("X-Driftgate-Signature")
	sec, err := strconv.ParseInt(ts, 10, 64)
	m := hmac.New(sha256.New, []byte(h.secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || !hmac.Equal([]byte(sig), []byte(want)) {
		h.bad.Add(1)
		rw.WriteHeader(http.StatusUnauthorized)
		return
	}
	type ce struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	var evs []ce
	if len(body) > 0 && body[0] == '[' {
		err = json.Unmarshal(body, &evs)
	} else {
		var e ce
		err = json.Unmarshal(body, &e)
		evs = append(evs, e)
	}
	if err != nil {
		rw.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	for _, e := range evs {
		if _, ok := h.got[e.ID]; !ok {
			h.got[e.ID] = at
		}
	}
	h.cond.Broadcast()
	h.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// wait returns when the event id reached the hook.
func (h *alertHook) wait(b *testing.B, id string, timeout time.Duration) time.Time {
	b.Helper()
	t := time.AfterFunc(timeout, func() { h.mu.Lock(); h.cond.Broadcast(); h.mu.Unlock() })
	defer t.Stop()
	deadline := time.Now().Add(timeout)
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		if at, ok := h.got[id]; ok {
			return at
		}
		if time.Now().After(deadline) {
			b.Fatalf("the webhook did not receive event %s within %s", id, timeout)
		}
		h.cond.Wait()
	}
}

// startNotifier runs the notifier in this process until the benchmark ends;
// the sinks' secret env reads as secret.
func startNotifier(b *testing.B, env *eventstest.Env, cfg *config.File, secret string) {
	b.Helper()
	cfg.ApplyDefaults()
	n, err := notifier.New(cfg, service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: quietLog().With("svc", "notifier"),
		Health: obs.NewHealth(), Instance: "notifier-1", Getenv: func(string) string { return secret }})
	if err != nil {
		b.Fatal(err)
	}
	servicetest.Run(b, "notifier", n)
}

// configMaps writes a workspace of one namespace and n ConfigMaps.
func configMaps(b *testing.B, l *lab.Lab, n int, ns, key string) *lab.Workspace {
	src := b.TempDir()
	main := lab.ConfigMapModule(ns, n-1)
	if err := os.WriteFile(filepath.Join(src, "main.tf"), []byte(main), 0o644); err != nil {
		b.Fatal(err)
	}
	w := l.NewWorkspace(b, src, lab.Tofu, key)
	apply(b, w)
	return w
}

func benchWorkspaceSize(b *testing.B, l *lab.Lab) {
	sizes := []int{10, 500}
	cfg := &config.File{}
	var targets []*target
	for _, n := range sizes {
		ns := fmt.Sprintf("size-%d", n)
		w := configMaps(b, l, n, ns, fmt.Sprintf("bench/size-%d.tfstate", n))
		c := workspaceConfig(l, ns, w.Dir, lab.Tofu, ns)
		if len(cfg.Workspaces) == 0 {
			cfg = c
		} else {
			cfg.Workspaces = append(cfg.Workspaces, c.Workspaces...)
			cfg.Watch.Namespaces = append(cfg.Watch.Namespaces, ns)
		}
		targets = append(targets, &target{w: w, addr: "kubernetes_config_map.cm[0]", resource: "configmaps", ns: ns, name: "cm-0",
			change: `{"data":{"index":"changed-%d"}}`, revert: `{"data":{"index":"0"}}`, bin: lab.Tofu, withTool: true})
	}
	_, s := benchPipeline(b, l, cfg)
	s.wait(0, 5*time.Minute, "the startup plan of "+cfg.Workspaces[1].Name, planCompleted(cfg.Workspaces[1].Name, ""))
	// The sizes take turns, change by change, so both see the same load
	// (other processes on the machine come and go).
	for i := 0; i < sizeChanges; i++ {
		for _, t := range targets {
			t.measure(b, l, s, i)
		}
	}
	var p50, bare50, tool50 [2]time.Duration
	for i, t := range targets {
		n := sizes[i]
		t.report(b, fmt.Sprintf("%d resources", n))
		p50[i], bare50[i], tool50[i] = percentile(t.pipeline, .5), percentile(t.bare, .5), percentile(t.tool, .5)
		b.ReportMetric(ms(p50[i]), fmt.Sprintf("p50-%d-resources-ms", n))
		b.ReportMetric(ms(bare50[i]), fmt.Sprintf("p50-bare-plan-%d-resources-ms", n))
		b.ReportMetric(ms(tool50[i]), fmt.Sprintf("p50-plan-out-show-%d-resources-ms", n))
	}
	ratio := func(d [2]time.Duration) float64 { return float64(d[1]) / float64(d[0]) }
	b.ReportMetric(ratio(p50), "ratio-500-vs-10")
	b.ReportMetric(ratio(bare50), "bare-ratio-500-vs-10")
	b.ReportMetric(ratio(tool50), "plan-out-show-ratio-500-vs-10")
	b.Logf("change->drift.detected p50: 10 resources %s, 500 resources %s, ratio %.2f (bare plan -target: %s vs %s, ratio %.2f; "+
		"the planner's tool runs by hand, plan -target -out + show -json: %s vs %s, ratio %.2f)",
		p50[0].Round(time.Millisecond), p50[1].Round(time.Millisecond), ratio(p50),
		bare50[0].Round(time.Millisecond), bare50[1].Round(time.Millisecond), ratio(bare50),
		tool50[0].Round(time.Millisecond), tool50[1].Round(time.Millisecond), ratio(tool50))
}

// sizeChanges is the number of changes WorkspaceSize measures per size.
const sizeChanges = 11

// benchBurst publishes 1,000 object.changed events for the 500-ConfigMap
// workspace's objects within one second, as the watcher would for a burst,
// and counts the plans they cause.
func benchBurst(b *testing.B, l *lab.Lab) {
	ns := "burst"
	w := configMaps(b, l, 500, ns, "bench/burst.tfstate")
	cfg := workspaceConfig(l, ns, w.Dir, lab.Tofu, ns)
	env, s := benchPipeline(b, l, cfg)
	pub := events.NewPublisher(env.JS, "driftgate/watcher/bench")
	ctx := context.Background()
	m := s.mark()
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < 1000; i++ {
		<-tick.C
		now := time.Now().UTC()
		oc := &events.ObjectChanged{
			Object:   events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: fmt.Sprintf("cm-%d", i%499), UID: fmt.Sprintf("uid-%d", i%499)},
			Resource: "configmaps", Change: events.ChangeUpdated, ResourceVersion: fmt.Sprintf("b%d", i),
			Paths:       []string{"data.index"},
			Attribution: []events.PathOwner{{Path: "data.index", Attribution: events.Attribution{Manager: "kubectl-patch", Operation: "Update", Time: &now}}},
			ObservedAt:  now,
		}
		if _, err := pub.PublishAsync(ctx, oc); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	<-env.JS.PublishAsyncComplete()
	published := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if time.Now().After(deadline) {
			b.Fatalf("burst not planned within 5 minutes: %d pending", pendingLeft(b, env))
		}
		time.Sleep(time.Second)
		if pendingLeft(b, env) == 0 && quietFor(s, m, ns, 3*time.Second) {
			break
		}
	}
	plans, accounted := 0, 0
	var full []string
	for _, rec := range s.since(m) {
		if pc, ok := rec.Data.(*events.PlanCompleted); ok && pc.WS == ns && pc.Trigger == planner.TriggerChange {
			plans++
			accounted += pc.Changes
			full = append(full, fmt.Sprintf("full=%v/%dms", pc.Full, pc.DurationMS))
		}
	}
	b.ReportMetric(float64(plans), "plans-for-1000-changes")
	b.ReportMetric(float64(accounted), "changes-accounted")
	b.Logf("1000 changes published in %s -> %d plans (%s), %d changes accounted", published.Round(time.Millisecond), plans, strings.Join(full, " "), accounted)
	if accounted != 1000 {
		b.Errorf("plans accounted for %d of 1000 changes", accounted)
	}
}

// quietFor reports whether no plan of ws completed in the last d.
func quietFor(s *stream, mark int, ws string, d time.Duration) bool {
	recs := s.since(mark)
	for i := len(recs) - 1; i >= 0; i-- {
		if pc, ok := recs[i].Data.(*events.PlanCompleted); ok && pc.WS == ws {
			return time.Since(recs[i].At) > d
		}
	}
	return false
}

// benchChanges is the number of changes ChangeToDrift measures: 20, or
// DRIFTGATE_BENCH_CHANGES.
func benchChanges() int {
	if n, err := strconv.Atoi(os.Getenv("DRIFTGATE_BENCH_CHANGES")); err == nil && n > 0 {
		return n
	}
	return 20
}
