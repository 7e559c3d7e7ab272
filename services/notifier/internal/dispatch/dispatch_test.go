package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/notifier/internal/dispatch"
	"github.com/driftgate/driftgate/services/notifier/internal/sink"
)

// fast are per-sink knobs that keep retries quick in tests.
const fast = `backoff_min: 1ms, backoff_max: 20ms, rate_per_minute: 60000`

func webhookConfig(url string, extra string) string {
	return fmt.Sprintf(`
notify:
  digest_window: 5s
  sinks:
    - {name: hook, webhook: {url: %q, secret_env: HOOK_SECRET}, %s %s}
  routes:
    - {match: {types: ["*"]}, sinks: [hook]}
`, url, extra, fast)
}

// deliveredEvents lists the events the webhook accepted, in order, as
// "<route> <id>".
func deliveredEvents(t testing.TB, reqs []request) []string {
	var got []string
	for _, rq := range reqs {
		for _, e := range webhookEvents(t, rq) {
			got = append(got, route(e.Type())+" "+e.ID())
		}
	}
	return got
}

func requestIDs(t testing.TB, reqs []request) []string {
	t.Helper()
	var ids []string
	for _, rq := range reqs {
		for _, e := range webhookEvents(t, rq) {
			var im events.Import
			if strings.HasPrefix(e.Type(), "dev.driftgate.import.") && e.DataAs(&im) == nil {
				ids = append(ids, im.RequestID)
			} else {
				ids = append(ids, e.ID())
			}
		}
	}
	return ids
}

func receipts(w *world, failed bool) []events.Alert {
	typ := events.TypeAlertDelivered
	if failed {
		typ = events.TypeAlertFailed
	}
	var out []events.Alert
	for _, e := range w.streamEvents(typ) {
		var a events.Alert
		if err := e.DataAs(&a); err != nil {
			w.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestSlackReceiverGetsValidBlockKit(t *testing.T) {
	w := newWorld(t)
	slk := newReceiver(t, checkSlack)
	w.vars["SLACK_URL"] = slk.srv.URL + "/services/T000/B000/XXXX"
	w.start(`
notify:
  sinks:
    - {name: ops, slack: {webhook_url_env: SLACK_URL}, ` + fast + `}
  routes:
    - {match: {types: ["*"]}, sinks: [ops]}
`)
	f := finding("marketplace", "kubernetes_deployment.marketplace", events.ClassChanged, events.RiskHigh)
	failed := importEvent(events.ImportFailed, "billing")
	failed.Step, failed.Reason, failed.Diff = "verify", "plan not clean after import", []string{"~ spec.replicas: 3 -> 5"}
	down := &events.ClusterHealth{Cluster: "lab", Component: events.ComponentAPIServer, Condition: "Unreachable", Status: "True",
		Severity: events.SeverityCritical, Message: "dial tcp: connection refused", Since: t0, ObservedAt: t0}
	up := *down
	up.Status, up.Severity, up.Duration, up.Since = "False", events.SeverityInfo, "3m0s", t0.Add(3*time.Minute)
	w.publish(detected(f, "p1"), planDone("marketplace", "p1"),
		importEvent(events.ImportSucceeded, "cart"), failed, down, &up,
		resolved(f, "p2"), planDone("marketplace", "p2"))

	eventually(t, "6 slack messages", func() bool { return len(slk.accepted()) >= 6 })
	if a := slk.attempts(); a != 6 {
		t.Errorf("slack receiver saw %d requests, want 6 (one was rejected as invalid Block Kit?)", a)
	}
	msgs := slk.accepted()
	want := [][]string{
		{"Drift", "kubernetes_deployment.marketplace", "marketplace", "changed", "high", "spec.replicas", "kubectl-scale", "Update", "revert", "Deployment.apps/shop/marketplace"},
		{"Import succeeded", "kubernetes_deployment.cart", "shop/cart"},
		{"Import failed", "kubernetes_deployment.billing", "verify", "plan not clean after import", "spec.replicas: 3 -&gt; 5"},
		{"critical", "apiserver", "Unreachable=True", "lab", "connection refused"},
		{"Recovered", "apiserver", "Unreachable=False", "after 3m0s"},
		{"Resolved", "kubernetes_deployment.marketplace", "no longer drifts"},
	}
	for i, words := range want {
		text := slackText(t, msgs[i].Body)
		for _, word := range words {
			if !strings.Contains(text, word) {
				t.Errorf("message %d lacks %q:\n%s", i, word, text)
			}
		}
	}
}

func TestWebhookSignatureVerifiesAndRejectsTamperingAndOldTimestamps(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	w.start(webhookConfig(hook.srv.URL+"/hook", ""))
	w.publish(importEvent(events.ImportSucceeded, "cart"))
	eventually(t, "signed delivery", func() bool { return len(hook.accepted()) == 1 })

	rq := hook.accepted()[0]
	if ct := rq.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("content type %q", ct)
	}
	es := webhookEvents(t, rq)
	if len(es) != 1 || es[0].Type() != events.TypeImportSucceeded || es[0].SpecVersion() != "1.0" {
		t.Fatalf("got %v", es)
	}
	ts, sig := rq.Header.Get(sink.HeaderTimestamp), rq.Header.Get(sink.HeaderSignature)
	if !regexp.MustCompile(`^sha256=[0-9a-f]{64}$`).MatchString(sig) {
		t.Errorf("signature %q", sig)
	}
	if err := sink.Verify([]byte(secret), ts, sig, rq.Body, time.Now()); err != nil {
		t.Errorf("sink.Verify disagrees with the receiver: %v", err)
	}

	post := func(body []byte, ts, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, hook.srv.URL+"/hook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		req.Header.Set(sink.HeaderTimestamp, ts)
		req.Header.Set(sink.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tampered := bytes.Replace(rq.Body, []byte(`"alice"`), []byte(`"mallory"`), 1)
	if bytes.Equal(tampered, rq.Body) {
		t.Fatal("test did not tamper")
	}
	if code := post(tampered, ts, sig); code != http.StatusUnauthorized {
		t.Errorf("tampered body: status %d, want 401", code)
	}
	old := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	if code := post(rq.Body, old, sink.Sign([]byte(secret), old, rq.Body)); code != http.StatusUnauthorized {
		t.Errorf("old timestamp: status %d, want 401", code)
	}
	if code := post(rq.Body, old, sig); code != http.StatusUnauthorized {
		t.Errorf("swapped timestamp: status %d, want 401", code)
	}
	if err := sink.Verify([]byte(secret), ts, sig, tampered, time.Now()); err != sink.ErrBadSignature {
		t.Errorf("sink.Verify(tampered) = %v", err)
	}
	if err := sink.Verify([]byte(secret), old, sink.Sign([]byte(secret), old, rq.Body), rq.Body, time.Now()); err != sink.ErrOldTimestamp {
		t.Errorf("sink.Verify(old) = %v", err)
	}
}

func TestRetryAfterOn429IsHonoured(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	hook.setRespond(func(n int, rw http.ResponseWriter, _ *http.Request) bool {
		if n == 1 {
			rw.Header().Set("Retry-After", "7")
			rw.WriteHeader(http.StatusTooManyRequests)
			return false
		}
		return true
	})
	w.vars["HOOK_SECRET"] = secret
	sl := &sleeps{}
	w.start(webhookConfig(hook.srv.URL, ""), sl.option())
	w.publish(importEvent(events.ImportSucceeded, "cart"))
	eventually(t, "delivery after 429", func() bool { return len(hook.accepted()) == 1 })
	if got := sl.all(); len(got) != 1 || got[0] != 7*time.Second {
		t.Errorf("waits between attempts %v, want exactly [7s] from Retry-After", got)
	}
	eventually(t, "receipt", func() bool { return len(receipts(w, false)) == 1 })
	if r := receipts(w, false)[0]; r.Attempts != 2 || r.Sink != "hook" {
		t.Errorf("receipt %+v", r)
	}
}

func TestServerErrorsAndTimeoutsAreRetriedAndDeliveredExactlyOnce(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	hook.setRespond(func(n int, rw http.ResponseWriter, r *http.Request) bool {
		switch n {
		case 1:
			http.Error(rw, "boom", http.StatusInternalServerError)
			return false
		case 2:
			select { // outlast the client's timeout: not accepted
			case <-r.Context().Done():
			case <-time.After(20 * time.Second):
			}
			return false
		case 3:
			rw.WriteHeader(http.StatusBadGateway)
			return false
		}
		return true
	})
	w.vars["HOOK_SECRET"] = secret
	sl := &sleeps{}
	w.start(webhookConfig(hook.srv.URL, "timeout: 300ms,"), sl.option())
	w.publish(importEvent(events.ImportSucceeded, "cart"))
	eventually(t, "delivery", func() bool { return len(hook.accepted()) == 1 })
	w.publish(importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel", func() bool { return len(hook.accepted()) == 2 })

	if got := requestIDs(t, hook.accepted()); !slices.Equal(got, []string{"cart", "sentinel"}) {
		t.Errorf("accepted %v, want cart once then sentinel", got)
	}
	if n := hook.attempts(); n != 5 {
		t.Errorf("%d requests, want 4 for cart (500, timeout, 502, ok) + 1", n)
	}
	if got := sl.all(); len(got) != 3 {
		t.Errorf("waits %v, want 3", got)
	} else {
		for i, d := range got {
			if d <= 0 || d > 20*time.Millisecond {
				t.Errorf("wait %d = %v, outside backoff_min..backoff_max", i, d)
			}
		}
	}
	eventually(t, "receipts", func() bool { return len(receipts(w, false)) == 2 })
	if r := receipts(w, false)[0]; r.Attempts != 4 {
		t.Errorf("receipt attempts %d, want 4", r.Attempts)
	}
}

// newReceiverAt serves on a fixed address (to bring a "down" sink back).
func newReceiverAt(t testing.TB, addr string, rc *receiver) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	rc.srv = srv
	t.Cleanup(srv.Close)
}

func TestSinkDownThenUpGetsBacklogInOrderOnce(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the sink is down: connection refused
	live := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	w.start(fmt.Sprintf(`
notify:
  sinks:
    - {name: down, webhook: {url: "http://%s/hook", secret_env: HOOK_SECRET}, max_attempts: 1000000, %s}
    - {name: live, webhook: {url: %q, secret_env: HOOK_SECRET}, %s}
`, addr, fast, live.srv.URL, fast))

	var want []string
	for i := 1; i <= 20; i++ {
		id := fmt.Sprintf("r%02d", i)
		want = append(want, id)
		verb := []string{events.ImportRequested, events.ImportSucceeded, events.ImportFailed}[i%3]
		w.publish(importEvent(verb, id))
	}
	eventually(t, "live sink gets everything while the other is down", func() bool { return len(live.accepted()) == 20 })
	if got := requestIDs(t, live.accepted()); !slices.Equal(got, want) {
		t.Errorf("live sink order %v", got)
	}
	eventually(t, "down sink retrying", func() bool {
		return strings.Count(w.logs.String(), `"sink":"down"`) >= 5
	})

	back := &receiver{t: t, check: verifyWebhook([]byte(secret))}
	newReceiverAt(t, addr, back)
	eventually(t, "backlog delivered", func() bool { return len(back.accepted()) >= 20 })
	w.publish(importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel", func() bool { return len(back.accepted()) >= 21 })
	if got := requestIDs(t, back.accepted()); !slices.Equal(got, append(want, "sentinel")) {
		t.Errorf("backlog after the sink came back:\n got %v\nwant %v", got, append(want, "sentinel"))
	}
	if f := receipts(w, true); len(f) != 0 {
		t.Errorf("alert.failed receipts: %+v", f)
	}
}

func TestRestartMidRetryDeliversOnce(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	hook.setRespond(func(_ int, rw http.ResponseWriter, _ *http.Request) bool {
		rw.WriteHeader(http.StatusServiceUnavailable)
		return false
	})
	w.vars["HOOK_SECRET"] = secret
	cfg := webhookConfig(hook.srv.URL, "max_attempts: 1000000,")
	stop := w.start(cfg)
	w.publish(importEvent(events.ImportSucceeded, "cart"))
	eventually(t, "retrying", func() bool { return hook.attempts() >= 3 })
	stop() // mid-retry: the message is handed back unacked

	hook.setRespond(nil)
	w.start(cfg)
	w.publish(importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel", func() bool {
		return slices.Contains(requestIDs(t, hook.accepted()), "sentinel")
	})
	if got := requestIDs(t, hook.accepted()); !slices.Equal(got, []string{"cart", "sentinel"}) {
		t.Errorf("accepted %v, want cart once, then sentinel", got)
	}
	eventually(t, "receipts", func() bool { return len(receipts(w, false)) == 2 })
	if r := receipts(w, false); r[0].Attempts != 1 {
		t.Errorf("the restarted notifier's receipt says %d attempts, want 1", r[0].Attempts)
	}
}

func TestDigestOf50FindingsIsOneMessage(t *testing.T) {
	w := newWorld(t)
	slk := newReceiver(t, checkSlack)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["SLACK_URL"], w.vars["HOOK_SECRET"] = slk.srv.URL, secret
	w.start(fmt.Sprintf(`
notify:
  digest_window: 1m
  sinks:
    - {name: ops, slack: {webhook_url_env: SLACK_URL}, %s}
    - {name: hook, webhook: {url: %q, secret_env: HOOK_SECRET}, %s}
`, fast, hook.srv.URL, fast))
	for i := range 50 {
		risk := events.RiskLow
		if i%10 == 0 {
			risk = events.RiskHigh
		}
		w.publish(detected(finding("marketplace", fmt.Sprintf("kubernetes_deployment.app%02d", i), events.ClassUnimported, risk), "p1"))
	}
	w.publish(planDone("marketplace", "p1"), importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "digest and sentinel at slack", func() bool { return len(slk.accepted()) >= 2 })
	eventually(t, "digest and sentinel at webhook", func() bool { return len(hook.accepted()) >= 2 })

	if n := len(slk.accepted()); n != 2 {
		t.Errorf("slack got %d messages, want the digest and the sentinel", n)
	}
	text := slackText(t, slk.accepted()[0].Body)
	for _, s := range []string{"50 drift findings in marketplace", "unimported 50", "*High risk*\n5", "… and 10 more", "plan `p1`"} {
		if !strings.Contains(text, s) {
			t.Errorf("digest lacks %q:\n%s", s, text)
		}
	}
	if got := len(webhookEvents(t, hook.accepted()[0])); got != 50 {
		t.Errorf("webhook digest carries %d events, want 50", got)
	}
	if ct := hook.accepted()[0].Header.Get("Content-Type"); ct != sink.ContentTypeBatch {
		t.Errorf("webhook digest content type %q", ct)
	}
	eventually(t, "receipts", func() bool { return len(receipts(w, false)) == 4 })
	for _, r := range receipts(w, false) {
		if r.ForType == events.TypeDriftDetected && len(r.FindingIDs) != 50 {
			t.Errorf("digest receipt for %s names %d findings", r.Sink, len(r.FindingIDs))
		}
	}
}

func TestResolvedFindingSendsItsResolutionOnce(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	w.start(webhookConfig(hook.srv.URL, ""))
	f := finding("marketplace", "kubernetes_deployment.marketplace", events.ClassChanged, events.RiskLow)
	changed := f
	changed.Paths = []string{"spec.replicas", "spec.template.spec.containers[0].image"}

	w.publish(detected(f, "p1"), planDone("marketplace", "p1")) // opened: alert
	w.publish(detected(f, "p2"), planDone("marketplace", "p2")) // same again: nothing
	w.republish(detected(f, "p1"))                              // replayed: nothing
	w.publish(detected(changed, "p3"), planDone("marketplace", "p3"))
	w.publish(resolved(changed, "p4"), planDone("marketplace", "p4")) // resolved: alert
	w.republish(resolved(changed, "p4"))                              // redelivered: nothing
	w.publish(resolved(changed, "p5"), planDone("marketplace", "p5")) // resolved again: nothing
	w.publish(importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel", func() bool { return slices.Contains(requestIDs(t, hook.accepted()), "sentinel") })

	got := deliveredEvents(t, hook.accepted())
	want := []string{
		"drift.detected " + detected(f, "p1").Key(),
		"drift.detected " + detected(changed, "p3").Key(),
		"drift.resolved " + resolved(changed, "p4").Key(),
		"import.succeeded " + importEvent(events.ImportSucceeded, "sentinel").Key(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries:\n got %v\nwant %v", got, want)
	}
}

func route(t string) string {
	return strings.TrimSuffix(strings.TrimPrefix(t, "dev.driftgate."), ".v1")
}

func TestCanarySecretValueNeverAppears(t *testing.T) {
	const (
		canaryValue  = "CANARY-VALUE-9d2f41"     // a Secret's data an upstream failed to redact
		canarySecret = "CANARY-SIGNING-77ab0c"   // the webhook signing secret
		canaryURL    = "CANARY-SLACK-TOKEN-5e1a" // the secret part of a Slack webhook URL
	)
	w := newWorld(t)
	slk := newReceiver(t, checkSlack)
	hook := newReceiver(t, verifyWebhook([]byte(canarySecret)))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	w.vars["SLACK_URL"] = slk.srv.URL + "/services/T0/B0/" + canaryURL
	w.vars["SLACK_DOWN_URL"] = "http://" + closed + "/services/T0/B0/" + canaryURL
	w.vars["HOOK_SECRET"] = canarySecret
	w.start(fmt.Sprintf(`
notify:
  sinks:
    - {name: ops, slack: {webhook_url_env: SLACK_URL}, %[1]s}
    - {name: ops-down, slack: {webhook_url_env: SLACK_DOWN_URL}, max_attempts: 2, %[1]s}
    - {name: hook, webhook: {url: %[2]q, secret_env: HOOK_SECRET}, %[1]s}
`, fast, hook.srv.URL))

	f := finding("marketplace", "kubernetes_secret.db", events.ClassChanged, events.RiskHigh)
	f.Paths = []string{"data.password"}
	dd := detected(f, "p1")
	dd.Excerpt = events.Excerpt{Before: map[string]any{"data.password": canaryValue}, After: map[string]any{"data.password": canaryValue + "-new"}}
	im := importEvent(events.ImportFailed, "db")
	im.Object = objectRef("Secret", "db")
	im.Diff = []string{`~ data.password: "` + canaryValue + `" -> (sensitive)`}
	w.publish(dd, planDone("marketplace", "p1"), im)

	eventually(t, "deliveries", func() bool { return len(slk.accepted()) == 2 && len(hook.accepted()) == 2 })
	eventually(t, "failed receipts of the down sink", func() bool { return len(receipts(w, true)) == 2 })
	eventually(t, "delivered receipts", func() bool { return len(receipts(w, false)) == 4 })

	var seen strings.Builder
	for _, rq := range append(slk.accepted(), hook.accepted()...) {
		seen.Write(rq.Body)
		for k, v := range rq.Header {
			seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
		}
	}
	for _, e := range w.streamEvents("dev.driftgate.alert.") {
		b, _ := json.Marshal(e)
		seen.Write(b)
	}
	seen.WriteString(w.logs.String())
	for _, c := range []string{canaryValue, canarySecret, canaryURL} {
		if strings.Contains(seen.String(), c) {
			t.Errorf("%s appears in a message, receipt or log line", c)
		}
	}
	if !strings.Contains(seen.String(), "(redacted)") {
		t.Error("the Secret's excerpt was not visibly redacted")
	}
	if !strings.Contains(w.logs.String(), "connection refused") {
		t.Error("the down sink's error is not logged (the check above may be vacuous)")
	}
}

func TestAttemptLimitFailsAlertWithoutHoldingUpOtherSinks(t *testing.T) {
	w := newWorld(t)
	broken := newReceiver(t, nil)
	broken.setRespond(func(_ int, rw http.ResponseWriter, _ *http.Request) bool {
		http.Error(rw, "database is on fire", http.StatusInternalServerError)
		return false
	})
	refusing := newReceiver(t, nil)
	refusing.setRespond(func(_ int, rw http.ResponseWriter, _ *http.Request) bool {
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return false
	})
	good := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	w.start(fmt.Sprintf(`
notify:
  sinks:
    - {name: broken, webhook: {url: %q, secret_env: HOOK_SECRET}, max_attempts: 3, %s}
    - {name: refusing, webhook: {url: %q, secret_env: HOOK_SECRET}, %s}
    - {name: good, webhook: {url: %q, secret_env: HOOK_SECRET}, %s}
`, broken.srv.URL, fast, refusing.srv.URL, fast, good.srv.URL, fast), dispatch.WithMeterProvider(mp))
	for i := range 5 {
		w.publish(importEvent(events.ImportSucceeded, fmt.Sprintf("r%d", i)))
	}
	eventually(t, "good sink gets all", func() bool { return len(good.accepted()) == 5 })
	eventually(t, "failed receipts", func() bool { return len(receipts(w, true)) == 10 })
	perSink := map[string][]events.Alert{}
	for _, r := range receipts(w, true) {
		perSink[r.Sink] = append(perSink[r.Sink], r)
	}
	for _, r := range perSink["broken"] {
		if r.Attempts != 3 || r.StatusCode != 500 || !strings.Contains(r.Error, "database is on fire") {
			t.Errorf("broken receipt %+v", r)
		}
	}
	for _, r := range perSink["refusing"] {
		if r.Attempts != 1 || r.StatusCode != 401 {
			t.Errorf("a 401 is permanent, want one attempt: %+v", r)
		}
	}
	if broken.attempts() != 15 || refusing.attempts() != 5 {
		t.Errorf("attempts: broken %d (want 15), refusing %d (want 5)", broken.attempts(), refusing.attempts())
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	failed := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "driftgate_notifier_alerts_failed_total" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				s, _ := dp.Attributes.Value("sink")
				failed[s.AsString()] += dp.Value
			}
		}
	}
	if failed["broken"] != 5 || failed["refusing"] != 5 || failed["good"] != 0 {
		t.Errorf("failed metric %v", failed)
	}
}

func TestClusterHealthOnceAndRecovery(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	w.start(webhookConfig(hook.srv.URL, ""))
	health := func(cond, status, sev string, since time.Time) *events.ClusterHealth {
		return &events.ClusterHealth{Cluster: "lab", Component: events.ComponentNode, Node: "cp-1", Condition: cond,
			Status: status, Severity: sev, Since: since, ObservedAt: since}
	}
	w.publish(
		health("Synced", "True", events.SeverityInfo, t0),                         // info, nothing wrong before: not alerted
		health("DiskPressure", "True", events.SeverityCritical, t0),               // alert
		health("DiskPressure", "True", events.SeverityCritical, t0.Add(1)),        // same problem, reported again: nothing
		health("DiskPressure", "False", events.SeverityInfo, t0.Add(time.Hour)),   // recovered: alert
		health("DiskPressure", "False", events.SeverityInfo, t0.Add(2*time.Hour)), // nothing
		health("Ready", "False", events.SeverityWarning, t0),                      // NotReady: alert
		importEvent(events.ImportSucceeded, "sentinel"),
	)
	eventually(t, "sentinel", func() bool { return slices.Contains(requestIDs(t, hook.accepted()), "sentinel") })
	var got []string
	for _, rq := range hook.accepted() {
		for _, e := range webhookEvents(t, rq) {
			var h events.ClusterHealth
			if e.Type() == events.TypeClusterHealth && e.DataAs(&h) == nil {
				got = append(got, h.Condition+"="+h.Status)
			}
		}
	}
	if want := []string{"DiskPressure=True", "DiskPressure=False", "Ready=False"}; !slices.Equal(got, want) {
		t.Errorf("health alerts %v, want %v", got, want)
	}
}

func TestRemindersForFindingsStillOpen(t *testing.T) {
	w := newWorld(t)
	slk := newReceiver(t, checkSlack)
	w.vars["SLACK_URL"] = slk.srv.URL
	w.start(`
notify:
  reminder_interval: 1s
  sinks:
    - {name: ops, slack: {webhook_url_env: SLACK_URL}, ` + fast + `}
`)
	f := finding("marketplace", "kubernetes_deployment.marketplace", events.ClassChanged, events.RiskLow)
	w.publish(detected(f, "p1"), planDone("marketplace", "p1"))
	eventually(t, "reminder", func() bool {
		for _, rq := range slk.accepted() {
			if strings.Contains(slackText(t, rq.Body), "still open in marketplace") {
				return true
			}
		}
		return false
	})
	w.publish(resolved(f, "p2"), planDone("marketplace", "p2"))
	eventually(t, "resolution", func() bool {
		n := len(slk.accepted())
		return n > 0 && strings.Contains(slackText(t, slk.accepted()[n-1].Body), "Resolved")
	})
}

func TestNewNeedsTheSecretsFromTheEnvironment(t *testing.T) {
	w := newWorld(t)
	for _, c := range []struct{ yaml, want string }{
		{`{name: h, webhook: {url: "http://127.0.0.1:1/x", secret_env: HOOK_SECRET}}`, "HOOK_SECRET is empty"},
		{`{name: s, slack: {webhook_url_env: SLACK_URL}}`, "SLACK_URL is empty"},
	} {
		cfg := "notify:\n  sinks:\n    - " + c.yaml + "\n"
		_, err := newFromYAML(w, cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
	w.vars["SLACK_URL"] = "not a url " + "CANARY-URL"
	_, err := newFromYAML(w, "notify:\n  sinks:\n    - {name: s, slack: {webhook_url_env: SLACK_URL}}\n")
	if err == nil || strings.Contains(err.Error(), "CANARY-URL") {
		t.Errorf("err = %v: must fail without quoting the value", err)
	}
	if n, err := newFromYAML(w, "notify: {}\n"); n != nil || err != nil {
		t.Errorf("no sinks: got %v, %v; want nil, nil", n, err)
	}
}

func TestSecondReplicaTakesOverTheSink(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	cfg := webhookConfig(hook.srv.URL, "")
	stopA := w.startAs("replica-a", cfg)
	w.startAs("replica-b", cfg) // standby: the lease is A's
	w.publish(importEvent(events.ImportSucceeded, "r1"))
	eventually(t, "r1", func() bool { return len(hook.accepted()) == 1 })
	stopA()
	w.publish(importEvent(events.ImportSucceeded, "r2"))
	eventually(t, "r2 via replica b", func() bool { return len(hook.accepted()) == 2 })
	if got := requestIDs(t, hook.accepted()); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("accepted %v", got)
	}
	eventually(t, "receipts", func() bool { return len(w.streamEvents(events.TypeAlertDelivered)) == 2 })
	var by []string
	for _, e := range w.streamEvents(events.TypeAlertDelivered) {
		by = append(by, e.Source())
	}
	if len(by) != 2 || !strings.HasSuffix(by[0], "/replica-a") || !strings.HasSuffix(by[1], "/replica-b") {
		t.Errorf("receipts by %v, want replica-a then replica-b", by)
	}
}

func TestMalformedEventIsDeadLetteredAndDeliveryGoesOn(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	w.start(webhookConfig(hook.srv.URL, ""))
	ctx := context.Background()
	before := deadLettered(t, "notifier-hook")
	if _, err := w.env.JS.Publish(ctx, "driftgate.import.succeeded.marketplace.x", []byte(`{"specversion":"1.0","oops"`)); err != nil {
		t.Fatal(err)
	}
	w.publish(importEvent(events.ImportSucceeded, "r1"))
	eventually(t, "r1", func() bool { return len(hook.accepted()) == 1 })
	s, err := w.env.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, events.DeadLetterSubject("notifier-hook"))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if r := m.Header.Get(events.HeaderReason); !strings.Contains(r, "not a CloudEvent") {
		t.Errorf("dead letter reason %q", r)
	}
	if n := deadLettered(t, "notifier-hook") - before; n != 1 {
		t.Errorf("driftgate_events_dead_lettered_total{consumer=notifier-hook} grew by %d, want 1", n)
	}
	// The notifier goes on after the dead letter.
	w.publish(importEvent(events.ImportSucceeded, "r2"))
	eventually(t, "r2", func() bool { return len(hook.accepted()) == 2 })
}

// eventsMetrics reads pkg/events' counters, which go to the global meter
// provider; it is set once per test binary, so counts are read as deltas.
var eventsMetrics = sync.OnceValue(func() *sdkmetric.ManualReader {
	r := sdkmetric.NewManualReader()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	return r
})

// deadLettered is driftgate_events_dead_lettered_total of a consumer.
func deadLettered(t *testing.T, consumer string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := eventsMetrics().Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "driftgate_events_dead_lettered_total" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				if c, _ := dp.Attributes.Value("consumer"); c.AsString() == consumer {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// TestKilledReplicasHeldEventsAreTakenInOrder: a replica killed while it
// holds a finding's opening leaves the message unacked until its ack wait
// runs out, and the finding's resolution is published meanwhile. The
// replica that takes the sink over must not decide the resolution first
// (it would read as a repeat of the resolution before and be dropped, and
// the opening would be alerted after it): the sink gets the opening, then
// the resolution. Found by the fault suite (test/chaos).
func TestKilledReplicasHeldEventsAreTakenInOrder(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	cfg := webhookConfig(hook.srv.URL, "")
	ackWait := dispatch.WithAckWait(2 * time.Second)
	f := finding("marketplace", "kubernetes_deployment.marketplace", events.ClassChanged, events.RiskLow)

	// An earlier lifecycle, delivered: the sink's mark says resolved.
	stopA := w.startAs("replica-a", cfg, ackWait)
	w.publish(detected(f, "p0"), planDone("marketplace", "p0"), resolved(f, "p1"), planDone("marketplace", "p1"))
	eventually(t, "the first lifecycle", func() bool { return len(hook.accepted()) == 2 })
	stopA()

	// The killed replica: it pulled the opening and died without acking it.
	ctx := context.Background()
	w.publish(detected(f, "p2"), planDone("marketplace", "p2"))
	cons, err := w.env.JS.Consumer(ctx, events.StreamName, "notifier-hook")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++ // held, never acked
	}
	if n != 2 {
		t.Fatalf("the dying replica pulled %d messages, want 2", n)
	}
	w.publish(resolved(f, "p3"), planDone("marketplace", "p3"))

	w.startAs("replica-b", cfg, ackWait)
	eventually(t, "the second lifecycle", func() bool { return len(hook.accepted()) == 4 })
	got := deliveredEvents(t, hook.accepted()[2:])
	want := []string{"drift.detected " + detected(f, "p2").Key(), "drift.resolved " + resolved(f, "p3").Key()}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries after the takeover:\n got %v\nwant %v", got, want)
	}
}

// A delivery mark that cannot be read (a node lost mid-read) holds that
// event and everything after it: a later event of the same finding is never
// decided before it. Before, the resolution was put back for two seconds
// while the next opening was decided against the mark "open" — taken for a
// repeat and acked — and the lifecycle lost two alerts (seen in the fault
// suite when all NATS nodes restarted).
func TestUnreadableMarkHoldsLaterEventsInOrder(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	f := finding("marketplace", "kubernetes_deployment.marketplace", events.ClassChanged, events.RiskLow)
	p1 := resolved(f, "p1").Key()
	var mu sync.Mutex
	failures := 0
	fault := dispatch.WithStateReadFault(func(key string) error {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(key, events.EscapeToken(p1)) && failures < 3 {
			failures++
			return fmt.Errorf("nats: no response from stream (injected %d)", failures)
		}
		return nil
	})
	w.start(webhookConfig(hook.srv.URL, ""), fault)
	w.publish(detected(f, "p0"), planDone("marketplace", "p0"))
	eventually(t, "the opening", func() bool { return len(hook.accepted()) == 1 })

	w.publish(resolved(f, "p1"), planDone("marketplace", "p1"), // its mark unreadable three times
		detected(f, "p2"), planDone("marketplace", "p2"),
		resolved(f, "p3"), planDone("marketplace", "p3"),
		importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel", func() bool { return slices.Contains(requestIDs(t, hook.accepted()), "sentinel") })

	got := deliveredEvents(t, hook.accepted())
	want := []string{
		"drift.detected " + detected(f, "p0").Key(),
		"drift.resolved " + p1,
		"drift.detected " + detected(f, "p2").Key(),
		"drift.resolved " + resolved(f, "p3").Key(),
		"import.succeeded " + importEvent(events.ImportSucceeded, "sentinel").Key(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries:\n got %v\nwant %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if failures != 3 {
		t.Errorf("%d injected failures, want 3", failures)
	}
}

// TestDeliveryLostInFlightIsTakenInOrder: a delivery lost on its way (the
// connection to a NATS node dropped mid-delivery) stays out unacked until
// its ack wait runs out, and the consumer goes on with the messages after
// it. The worker must not decide those first: here the finding changes
// (paths B) and changes back (paths A, what the sink was told first); the
// change back, decided before the change, reads as nothing new and is
// dropped, and the sink's last word would be B. Every alert must arrive, in
// stream order.
func TestDeliveryLostInFlightIsTakenInOrder(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	a := finding("marketplace", "kubernetes_service.marketplace", events.ClassChurn, events.RiskLow)
	b := a
	b.Paths = []string{"metadata.labels.tier"}
	lost := detected(b, "p1").Key()
	var mu sync.Mutex
	dropped := 0
	loss := dispatch.WithDeliveryLoss(func(m jetstream.Msg) bool {
		mu.Lock()
		defer mu.Unlock()
		if md, err := m.Metadata(); err == nil && md.NumDelivered == 1 && bytes.Contains(m.Data(), []byte(lost)) {
			dropped++
			return true
		}
		return false
	})
	w.start(webhookConfig(hook.srv.URL, ""), dispatch.WithAckWait(2*time.Second), loss)
	w.publish(detected(a, "p0"), planDone("marketplace", "p0"))
	eventually(t, "the opening", func() bool { return len(hook.accepted()) == 1 })

	w.publish(detected(b, "p1"), planDone("marketplace", "p1"), // its first delivery lost
		detected(a, "p2"), planDone("marketplace", "p2"),
		importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "sentinel and the lost change", func() bool {
		ids := requestIDs(t, hook.accepted())
		return slices.Contains(ids, "sentinel") && slices.Contains(ids, lost)
	})

	got := deliveredEvents(t, hook.accepted())
	want := []string{
		"drift.detected " + detected(a, "p0").Key(),
		"drift.detected " + lost,
		"drift.detected " + detected(a, "p2").Key(),
		"import.succeeded " + importEvent(events.ImportSucceeded, "sentinel").Key(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries:\n got %v\nwant %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped != 1 {
		t.Errorf("%d deliveries lost, want 1", dropped)
	}
}

// TestUnwrittenMarkHoldsTheChangeBack: the delivery mark of a change cannot
// be written for a while after the sink got it (its bucket without quorum).
// The change back to what the mark before held must still be alerted: it is
// decided once the mark is written, not against the mark left behind (the
// fault suite lost an alert that way when a NATS node came back).
func TestUnwrittenMarkHoldsTheChangeBack(t *testing.T) {
	w := newWorld(t)
	hook := newReceiver(t, verifyWebhook([]byte(secret)))
	w.vars["HOOK_SECRET"] = secret
	a := finding("marketplace", "kubernetes_service.marketplace", events.ClassChurn, events.RiskLow)
	b := a
	b.Paths = []string{"metadata.labels.tier"}
	markKey := events.Key("notifier", "hook", "f", a.ID)
	var mu sync.Mutex
	writes, failed := 0, 0
	fault := dispatch.WithStateWriteFault(func(key string) error {
		mu.Lock()
		defer mu.Unlock()
		if key != markKey {
			return nil
		}
		writes++
		// The first mark (the opening) is written; the next one fails
		// seven times, more than the five tries of the code before.
		if writes >= 2 && failed < 7 {
			failed++
			return errors.New("nats: no response from stream")
		}
		return nil
	})
	w.start(webhookConfig(hook.srv.URL, ""), fault)
	w.publish(detected(a, "p0"), planDone("marketplace", "p0"))
	eventually(t, "the opening", func() bool { return len(hook.accepted()) == 1 })

	w.publish(detected(b, "p1"), planDone("marketplace", "p1")) // its mark not written for a while
	eventually(t, "the change", func() bool { return len(hook.accepted()) == 2 })
	w.publish(detected(a, "p2"), planDone("marketplace", "p2"), // the change back
		importEvent(events.ImportSucceeded, "sentinel"))
	eventually(t, "the sentinel", func() bool {
		return slices.Contains(requestIDs(t, hook.accepted()), "sentinel")
	})

	got := deliveredEvents(t, hook.accepted())
	want := []string{
		"drift.detected " + detected(a, "p0").Key(),
		"drift.detected " + detected(b, "p1").Key(),
		"drift.detected " + detected(a, "p2").Key(),
		"import.succeeded " + importEvent(events.ImportSucceeded, "sentinel").Key(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("deliveries:\n got %v\nwant %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != 7 {
		t.Errorf("%d mark writes failed, want 7", failed)
	}
}
