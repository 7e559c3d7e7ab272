package dispatch_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/slack-go/slack"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier/internal/dispatch"
)

const secret = "whsec-test-3f9a1c"

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// request is one HTTP request a receiver accepted.
type request struct {
	Header http.Header
	Body   []byte
}

// receiver is a real HTTP server standing in for Slack or a webhook endpoint.
// respond decides, per attempt (1-based), what the server does; it returns
// whether the request was accepted (2xx written and the client still there).
type receiver struct {
	t       testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	n       int
	ok      []request
	respond func(n int, w http.ResponseWriter, r *http.Request) bool
	check   func(r *http.Request, body []byte) error
}

func newReceiver(t testing.TB, check func(r *http.Request, body []byte) error) *receiver {
	rc := &receiver{t: t, check: check}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	rc.n++
	n, respond := rc.n, rc.respond
	rc.mu.Unlock()
	if rc.check != nil {
		if err := rc.check(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	accepted := true
	if respond != nil {
		accepted = respond(n, w, r)
	} else {
		_, _ = io.WriteString(w, "ok")
	}
	if accepted {
		rc.mu.Lock()
		rc.ok = append(rc.ok, request{Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
	}
}

func (rc *receiver) setRespond(f func(n int, w http.ResponseWriter, r *http.Request) bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.respond = f
}

func (rc *receiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

func (rc *receiver) accepted() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.ok...)
}

// verifyWebhook is the receiver side of DESIGN.md's signature scheme, written
// from the spec (not from the notifier's code), as docs/webhooks.md shows it.
func verifyWebhook(key []byte) func(r *http.Request, body []byte) error {
	return func(r *http.Request, body []byte) error {
		ts := r.Header.Get("X-Driftgate-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return errors.New("bad timestamp")
		}
		if time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			return errors.New("timestamp too old")
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Driftgate-Signature"))) {
			return errors.New("bad signature")
		}
		return nil
	}
}

// checkSlack rejects what Slack would: a body that is not a webhook message
// with valid Block Kit blocks within Slack's limits.
func checkSlack(r *http.Request, body []byte) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("content type %q", ct)
	}
	var msg slack.WebhookMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&msg); err != nil {
		return fmt.Errorf("not a Block Kit message: %w", err)
	}
	if msg.Text == "" {
		return errors.New("no fallback text")
	}
	if msg.Blocks == nil || len(msg.Blocks.BlockSet) == 0 || len(msg.Blocks.BlockSet) > 50 {
		return fmt.Errorf("blocks: want 1..50")
	}
	for i, b := range msg.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if b.Text == nil || b.Text.Type != slack.PlainTextType || len([]rune(b.Text.Text)) > 150 || b.Text.Validate() != nil {
				return fmt.Errorf("block %d: invalid header", i)
			}
		case *slack.SectionBlock:
			if b.Text == nil && len(b.Fields) == 0 {
				return fmt.Errorf("block %d: empty section", i)
			}
			if b.Text != nil {
				if err := b.Text.Validate(); err != nil {
					return fmt.Errorf("block %d: %w", i, err)
				}
			}
			if len(b.Fields) > 10 {
				return fmt.Errorf("block %d: %d fields", i, len(b.Fields))
			}
			for _, f := range b.Fields {
				if err := f.Validate(); err != nil || len([]rune(f.Text)) > 2000 {
					return fmt.Errorf("block %d: field: %v", i, err)
				}
			}
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > 10 {
				return fmt.Errorf("block %d: %d context elements", i, n)
			}
		case *slack.DividerBlock:
		default:
			return fmt.Errorf("block %d: unexpected block type %T", i, b)
		}
	}
	return nil
}

// slackText is everything a person would read in a Slack message.
func slackText(t testing.TB, body []byte) string {
	t.Helper()
	var msg slack.WebhookMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(msg.Text + "\n")
	for _, bl := range msg.Blocks.BlockSet {
		switch bl := bl.(type) {
		case *slack.HeaderBlock:
			b.WriteString(bl.Text.Text + "\n")
		case *slack.SectionBlock:
			if bl.Text != nil {
				b.WriteString(bl.Text.Text + "\n")
			}
			for _, f := range bl.Fields {
				b.WriteString(f.Text + "\n")
			}
		case *slack.ContextBlock:
			for _, e := range bl.ContextElements.Elements {
				if tx, ok := e.(*slack.TextBlockObject); ok {
					b.WriteString(tx.Text + "\n")
				}
			}
		}
	}
	return b.String()
}

// webhookEvents decodes a webhook body: one structured event or a batch.
func webhookEvents(t testing.TB, rq request) []cloudevents.Event {
	t.Helper()
	switch ct := rq.Header.Get("Content-Type"); ct {
	case "application/cloudevents+json":
		var e cloudevents.Event
		if err := json.Unmarshal(rq.Body, &e); err != nil {
			t.Fatal(err)
		}
		return []cloudevents.Event{e}
	case "application/cloudevents-batch+json":
		var es []cloudevents.Event
		if err := json.Unmarshal(rq.Body, &es); err != nil {
			t.Fatal(err)
		}
		return es
	default:
		t.Fatalf("content type %q", ct)
	}
	return nil
}

// logBuffer collects the notifier's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// world is a JetStream server, a publisher standing in for the planner,
// watcher and importer, and the environment the notifier reads.
type world struct {
	t    testing.TB
	env  *eventstest.Env
	pub  *events.Publisher
	vars map[string]string
	logs *logBuffer
	// quiet logs warnings only (benchmarks).
	quiet bool
}

func newWorld(t testing.TB) *world {
	env := eventstest.Start(t)
	w := &world{t: t, env: env, pub: events.NewPublisher(env.JS, "driftgate/test/host-1"), vars: map[string]string{}, logs: &logBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			l := w.logs.String()
			var keep []string
			for _, line := range strings.Split(l, "\n") {
				if !strings.Contains(line, "retrying") {
					keep = append(keep, line)
				}
			}
			l = strings.Join(keep, "\n")
			t.Logf("notifier log (tail, without retries):\n%s", l[max(0, len(l)-8000):])
		}
	})
	return w
}

// start runs a notifier under the config text and waits until its consumers
// exist; the returned stop cancels it and waits for its drain.
func (w *world) start(yaml string, opts ...dispatch.Option) (stop func()) {
	w.t.Helper()
	return w.startAs("test-1", yaml, opts...)
}

// startAs runs a notifier replica named instance.
func (w *world) startAs(instance, yaml string, opts ...dispatch.Option) (stop func()) {
	t := w.t
	t.Helper()
	cfg, err := config.Parse("driftgate.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	h := obs.NewHealth()
	level := slog.LevelDebug
	if w.quiet {
		level = slog.LevelWarn
	}
	d := service.Deps{
		Conn: w.env.Conn, JS: w.env.JS, Buckets: w.env.Buckets, Health: h, Instance: instance,
		Log:    slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: level})).With("instance", instance),
		Getenv: func(k string) string { return w.vars[k] },
	}
	n, err := dispatch.New(cfg, d, append([]dispatch.Option{dispatch.WithLeaseTTL(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	eventually(t, "notifier ready", func() bool { return h.Ready() == nil })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("notifier run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// newFromYAML builds (does not run) a notifier.
func newFromYAML(w *world, yaml string) (*dispatch.Notifier, error) {
	cfg, err := config.Parse("driftgate.yaml", []byte(yaml))
	if err != nil {
		w.t.Fatal(err)
	}
	return dispatch.New(cfg, service.Deps{
		Conn: w.env.Conn, JS: w.env.JS, Buckets: w.env.Buckets, Instance: "test-1",
		Log: slog.New(slog.NewJSONHandler(w.logs, nil)), Getenv: func(k string) string { return w.vars[k] },
	})
}

func (w *world) publish(ds ...events.Data) {
	w.t.Helper()
	for _, d := range ds {
		if _, err := w.pub.Publish(context.Background(), d); err != nil {
			w.t.Fatal(err)
		}
	}
}

// republish stores an event's exact bytes again without a message id, as a
// replay past the duplicate window would.
func (w *world) republish(d events.Data) {
	w.t.Helper()
	e, err := events.New("driftgate/test/host-1", d)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	if _, err := w.env.JS.Publish(context.Background(), events.NATSSubject(d), b); err != nil {
		w.t.Fatal(err)
	}
}

// streamEvents returns the stored events whose type starts with prefix.
func (w *world) streamEvents(prefix string) []cloudevents.Event {
	w.t.Helper()
	ctx := context.Background()
	s, err := w.env.JS.Stream(ctx, events.StreamName)
	if err != nil {
		w.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []cloudevents.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && seq > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var e cloudevents.Event
		if json.Unmarshal(m.Data, &e) == nil && strings.HasPrefix(e.Type(), prefix) {
			out = append(out, e)
		}
	}
	return out
}

// eventually polls cond until it holds, failing after a generous limit (a
// liveness bound, not a timing assertion).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sleeps records the waits the notifier asked for between attempts and
// sleeps each for at most a millisecond.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) option() dispatch.Option {
	return dispatch.WithSleep(func(ctx context.Context, d time.Duration) error {
		s.mu.Lock()
		s.d = append(s.d, d)
		s.mu.Unlock()
		t := time.NewTimer(min(d, time.Millisecond))
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// Event builders.

func objectRef(kind, name string) events.ObjectRef {
	g := "apps"
	if kind == "Secret" || kind == "Service" || kind == "ConfigMap" {
		g = ""
	}
	return events.ObjectRef{Cluster: "lab", Group: g, Version: "v1", Kind: kind, Namespace: "shop", Name: name, UID: "uid-" + name}
}

func finding(ws, address, class, risk string) events.Finding {
	kind, name := "Deployment", address
	if i := strings.LastIndex(address, "."); i >= 0 {
		name = address[i+1:]
	}
	if strings.HasPrefix(address, "kubernetes_secret") {
		kind = "Secret"
	}
	return events.Finding{
		ID: events.FindingID(ws, address, class), Workspace: ws, Address: address, Object: objectRef(kind, name),
		Class: class, Risk: risk, Paths: []string{"spec.replicas"},
		Attribution:       []events.Attribution{{Manager: "kubectl-scale", Operation: "Update", Time: &t0}},
		RecommendedAction: "revert", FirstSeen: t0, LastSeen: t0, State: events.StateOpen,
	}
}

func detected(f events.Finding, plan string) *events.DriftDetected {
	return &events.DriftDetected{Finding: f, PlanID: plan}
}

func resolved(f events.Finding, plan string) *events.DriftResolved {
	f.State = events.StateResolved
	return &events.DriftResolved{Finding: f, PlanID: plan, Reason: "no longer in the plan"}
}

func planDone(ws, plan string) *events.PlanCompleted {
	return &events.PlanCompleted{WS: ws, PlanID: plan, Trigger: "change", Counts: map[string]int{}, Tool: "tofu", StartedAt: t0}
}

func importEvent(verb, req string) *events.Import {
	return events.NewImport(verb, events.Import{
		RequestID: req, WS: "marketplace", FindingID: "f-1", Address: "kubernetes_deployment." + req,
		ImportID: "shop/" + req, Object: objectRef("Deployment", req), Risk: events.RiskLow, Policy: "manual",
		By: "alice", Reason: "adopt", Attempt: 1, At: t0,
	})
}
