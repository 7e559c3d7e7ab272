package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func sampleObject() events.ObjectRef {
	return events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "marketplace", UID: "u-1"}
}

func sampleFinding() events.Finding {
	return events.Finding{
		ID: events.FindingID("marketplace", "kubernetes_deployment.marketplace", "changed"), Workspace: "marketplace",
		Address: "kubernetes_deployment.marketplace", Object: sampleObject(), Class: events.ClassChanged, Risk: events.RiskLow,
		Paths: []string{"spec.replicas"}, Attribution: []events.Attribution{{Manager: "kubectl-scale", Operation: "Update", Time: &t0}},
		RecommendedAction: "revert", FirstSeen: t0, LastSeen: t0, State: events.StateOpen,
	}
}

// samples holds one valid payload of every event type of the contract.
func samples() []events.Data {
	imp := events.Import{RequestID: "r-1", WS: "marketplace", FindingID: "f-1", Address: "kubernetes_deployment.marketplace",
		ImportID: "shop/marketplace", Object: sampleObject(), Risk: events.RiskLow, By: "alice", Reason: "stale", At: t0}
	return []events.Data{
		&events.ObjectChanged{Object: sampleObject(), Resource: "deployments.apps", Change: events.ChangeUpdated, ResourceVersion: "42",
			Generation: 3, Paths: []string{"spec.replicas"}, Attribution: []events.PathOwner{{Path: "spec.replicas",
				Attribution: events.Attribution{Manager: "kubectl-scale", Operation: "Update", Time: &t0}}}, ObservedAt: t0},
		&events.ClusterHealth{Cluster: "lab", Component: events.ComponentAPIServer, Condition: "Unreachable", Status: "True",
			Severity: events.SeverityCritical, Since: t0, ObservedAt: t0},
		&events.PlanCompleted{WS: "marketplace", PlanID: "p-1", Trigger: "change", Targets: []string{"kubernetes_deployment.marketplace"}, ScopedState: true,
			Counts: map[string]int{"changed": 1}, Tool: "tofu", DurationMS: 2100, StartedAt: t0},
		&events.DriftDetected{Finding: sampleFinding(), PlanID: "p-1"},
		&events.DriftResolved{Finding: sampleFinding(), PlanID: "p-2"},
		events.NewImport(events.ImportRequested, imp),
		events.NewImport(events.ImportApproved, imp),
		events.NewImport(events.ImportRejected, imp),
		events.NewImport(events.ImportStarted, imp),
		events.NewImport(events.ImportSucceeded, imp),
		events.NewImport(events.ImportFailed, imp),
		events.NewImport(events.ImportRolledBack, imp),
		events.NewAlert(false, events.Alert{Sink: "ops", EventID: "e-1", ForType: events.TypeDriftDetected, Attempts: 1, At: t0}),
		events.NewAlert(true, events.Alert{Sink: "ops", EventID: "e-1", ForType: events.TypeDriftDetected, Attempts: 8, Error: "500", At: t0}),
		&events.SourceUpdated{WS: "platform", URL: "https://git.example.com/infra.git", Ref: "main", Path: "k8s",
			Commit: "0123456789abcdef0123456789abcdef01234567", Previous: "89abcdef0123456789abcdef0123456789abcdef",
			Message: "bump replicas", Trigger: "webhook", CommittedAt: t0, At: t0},
	}
}

func TestSamplesCoverEveryType(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range samples() {
		seen[d.EventType()] = true
	}
	for _, typ := range events.Types() {
		if !seen[typ] {
			t.Errorf("no sample for %s", typ)
		}
	}
}

func TestRoundTripEveryType(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	pub := events.NewPublisher(env.JS, "test")
	for _, d := range samples() {
		t.Run(d.EventType(), func(t *testing.T) {
			e, err := pub.Publish(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(e.Type(), "dev.driftgate.") || !strings.HasSuffix(e.Type(), ".v1") {
				t.Errorf("type %q", e.Type())
			}
			s, _ := env.JS.Stream(ctx, events.StreamName)
			m, err := s.GetLastMsgForSubject(ctx, events.NATSSubject(d))
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Get("Content-Type") != events.ContentType || m.Header.Get(events.HeaderType) != d.EventType() {
				t.Errorf("headers %v", m.Header)
			}
			got, gd, err := events.Decode(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != e.ID() || got.Subject() != d.Subject() || got.Source() != "test" {
				t.Errorf("envelope: got id %s subject %s", got.ID(), got.Subject())
			}
			if !reflect.DeepEqual(gd, d) {
				t.Errorf("data round trip:\n got %#v\nwant %#v", gd, d)
			}
		})
	}
}

func TestFindingJSONFieldsAreTheContract(t *testing.T) {
	b, _ := json.Marshal(sampleFinding())
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	want := []string{"id", "workspace", "address", "class", "risk", "object", "paths", "attribution", "import_id",
		"recommended_action", "first_seen", "last_seen", "state"}
	if len(m) != len(want) {
		t.Errorf("finding has %d fields, want %d: %s", len(m), len(want), b)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	var obj map[string]any
	_ = json.Unmarshal(m["object"], &obj)
	if len(obj) != 7 {
		t.Errorf("object has %d fields, want 7: %s", len(obj), m["object"])
	}
}

func TestInvalidDataIsRefused(t *testing.T) {
	bad := &events.ObjectChanged{Object: sampleObject(), Change: "mutated", ResourceVersion: "1"}
	if _, err := events.New("test", bad); err == nil || !strings.Contains(err.Error(), `change "mutated"`) {
		t.Fatalf("err = %v", err)
	}
	if _, err := events.New("test", events.NewImport(events.ImportRejected, events.Import{RequestID: "r", WS: "w", Address: "a", By: "bob"})); err == nil {
		t.Fatal("a rejection without a reason was accepted")
	}
	// Names no Kubernetes object can have (a path segment of its API URL).
	for _, name := range []string{"../../../etc/passwd", "a\x00$(id)", "..", "50%"} {
		d := &events.ObjectChanged{Object: sampleObject(), Change: events.ChangeUpdated, ResourceVersion: "1"}
		d.Object.Name = name
		if _, err := events.New("test", d); err == nil || !strings.Contains(err.Error(), "object.name") {
			t.Errorf("name %q: err = %v", name, err)
		}
	}
	d := &events.ObjectChanged{Object: sampleObject(), Change: events.ChangeUpdated, ResourceVersion: "1"}
	d.Object.Namespace = "a/b"
	if _, err := events.New("test", d); err == nil || !strings.Contains(err.Error(), "object.namespace") {
		t.Errorf("namespace a/b: err = %v", err)
	}
}

func TestDedupSameIDStoredOnce(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	pub := events.NewPublisher(env.JS, "test")
	d := samples()[0]
	for range 3 {
		if _, err := pub.Publish(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// A second publisher (another watcher replica) publishes the same fact.
	_, js2 := env.Connect(t)
	if _, err := events.NewPublisher(js2, "other").Publish(ctx, d); err != nil {
		t.Fatal(err)
	}
	s, _ := env.JS.Stream(ctx, events.StreamName)
	info, _ := s.Info(ctx)
	if info.State.Msgs != 1 {
		t.Fatalf("stored %d messages, want 1", info.State.Msgs)
	}
}

// Two clusters[] entries for one API server (or two clusters restored from
// one etcd backup) report an object with the same uid and resourceVersion:
// two facts, one per cluster, while each cluster's own repeats (a retry, the
// other watcher of a leader-elected pair) stay one.
func TestObjectChangedSameUIDInTwoClustersIsTwoEvents(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	east := &events.ObjectChanged{Object: sampleObject(), Resource: "deployments.apps", Change: events.ChangeUpdated, ResourceVersion: "42", ObservedAt: t0}
	west := *east
	west.Object.Cluster = "west"
	ids := map[string]bool{}
	for _, pub := range []*events.Publisher{events.NewPublisher(env.JS, "watcher-1"), events.NewPublisher(env.JS, "watcher-2")} {
		for _, d := range []*events.ObjectChanged{east, &west} {
			e, err := pub.Publish(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			ids[e.ID()] = true
		}
	}
	if want := map[string]bool{"oc-lab-u-1-42-updated": true, "oc-west-u-1-42-updated": true}; !reflect.DeepEqual(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
	s, err := env.JS.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stored %d messages, want 2 (one per cluster)", info.State.Msgs)
	}
}

func objectChanged(i int) *events.ObjectChanged {
	o := sampleObject()
	o.Name = fmt.Sprintf("cm-%d", i)
	o.UID = fmt.Sprintf("uid-%d", i)
	return &events.ObjectChanged{Object: o, Change: events.ChangeAdded, ResourceVersion: "1", ObservedAt: t0}
}

// run starts a consumer and returns a stop function that drains it.
func run(t *testing.T, js jetstream.JetStream, cfg events.ConsumerConfig, h events.Handler) func() {
	t.Helper()
	c, err := events.NewConsumer(js, cfg, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNakRedelivers(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	var attempts atomic.Int32
	stop := run(t, env.JS, events.ConsumerConfig{Durable: "t", MaxDeliver: 5}, func(context.Context, cloudevents.Event, events.Data) events.Result {
		if attempts.Add(1) < 3 {
			return events.Nak(10*time.Millisecond, "not yet")
		}
		return events.Ack()
	})
	defer stop()
	if _, err := events.NewPublisher(env.JS, "test").Publish(ctx, objectChanged(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "third delivery", func() bool { return attempts.Load() == 3 })
	// The server holds the third delivery's ack: it will not deliver again,
	// so a fourth attempt would have been counted already.
	env.WaitConsumed(t, "t", 15*time.Second)
	if n := attempts.Load(); n != 3 {
		t.Fatalf("handled %d times after ack, want 3", n)
	}
	if n := countSubject(t, env, events.DeadLetterSubject("t")); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

// TestNakBackoffGrows: each retry of an event its handler puts back waits
// at least twice as long as the one before (capped), so the attempts a
// consumer allows outlast a NATS cluster's restart.
func TestNakBackoffGrows(t *testing.T) {
	for _, c := range []struct {
		delay   time.Duration
		attempt int
		want    time.Duration
	}{
		{time.Second, 1, time.Second}, {time.Second, 2, 2 * time.Second}, {time.Second, 4, 8 * time.Second},
		{time.Second, 7, time.Minute}, {time.Second, 40, time.Minute}, {5 * time.Second, 3, 20 * time.Second},
		{2 * time.Minute, 1, time.Minute},
	} {
		if got := events.NakBackoff(c.delay, c.attempt); got != c.want {
			t.Errorf("NakBackoff(%s, %d) = %s, want %s", c.delay, c.attempt, got, c.want)
		}
	}
	var total time.Duration
	for a := 1; a < 10; a++ { // the planner's ten attempts of a 1 s delay
		total += events.NakBackoff(time.Second, a)
	}
	if total < 3*time.Minute {
		t.Errorf("ten attempts of a 1 s delay span %s, want at least 3 minutes", total)
	}

	env := eventstest.Start(t)
	var mu sync.Mutex
	var at []time.Time
	const base = 20 * time.Millisecond
	acked := make(chan struct{})
	stop := run(t, env.JS, events.ConsumerConfig{Durable: "b", MaxDeliver: 5}, func(context.Context, cloudevents.Event, events.Data) events.Result {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) < 5 {
			return events.Nak(base, "stream unavailable")
		}
		if len(at) == 5 {
			close(acked)
		}
		return events.Ack()
	})
	defer stop()
	if _, err := events.NewPublisher(env.JS, "test").Publish(context.Background(), objectChanged(7)); err != nil {
		t.Fatal(err)
	}
	// The fact that closes the window is the fifth delivery (the ack), not
	// the consumer's counters: right after the publish they can still read
	// "nothing pending" before the consumer has seen the message.
	select {
	case <-acked:
	case <-time.After(15 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("handled %d times in 15 s, want 5 (four put back, then acked)", len(at))
	}
	env.WaitConsumed(t, "b", 15*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 5 {
		t.Fatalf("handled %d times, want 5 (four put back, then acked)", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap, least := at[i].Sub(at[i-1]), events.NakBackoff(base, i); gap < least {
			t.Errorf("attempt %d came %s after attempt %d, want at least %s", i+1, gap, i, least)
		}
	}
	if n := countSubject(t, env, events.DeadLetterSubject("b")); n != 0 {
		t.Fatalf("%d dead letters, want 0", n)
	}
}

func countSubject(t *testing.T, env *eventstest.Env, subj string) int {
	t.Helper()
	s, _ := env.JS.Stream(context.Background(), events.StreamName)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Subjects[subj])
}

func deadLetters(t *testing.T, env *eventstest.Env, durable string) []*nats.Msg {
	t.Helper()
	ctx := context.Background()
	c, err := env.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.DeadLetterSubject(durable)}})
	if err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	for {
		m, err := c.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
		if err != nil {
			return out
		}
		out = append(out, &nats.Msg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data()})
	}
}

func TestPoisonAndUnparseableAreDeadLetteredWhileGoodFlow(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	var good atomic.Int32
	stop := run(t, env.JS, events.ConsumerConfig{Durable: "svc", MaxDeliver: 3}, func(_ context.Context, e cloudevents.Event, d events.Data) events.Result {
		oc := d.(*events.ObjectChanged)
		switch oc.Object.Name {
		case "cm-poison":
			return events.Term("poison: cannot be handled")
		case "cm-flaky":
			return events.Nak(time.Millisecond, "still failing")
		}
		good.Add(1)
		return events.Ack()
	})
	defer stop()
	pub := events.NewPublisher(env.JS, "test")
	// Garbage, a CloudEvent of an unknown type, and one with invalid data.
	_, _ = env.JS.Publish(ctx, "driftgate.object.changed.x", []byte("{not json"))
	unknown := cloudevents.NewEvent()
	unknown.SetID("u1")
	unknown.SetSource("x")
	unknown.SetType("dev.driftgate.nonsense.v9")
	ub, _ := json.Marshal(unknown)
	_, _ = env.JS.Publish(ctx, "driftgate.object.changed.y", ub)
	invalid := cloudevents.NewEvent()
	invalid.SetID("i1")
	invalid.SetSource("x")
	invalid.SetType(events.TypeObjectChanged)
	_ = invalid.SetData(cloudevents.ApplicationJSON, map[string]any{"change": "added"})
	ib, _ := json.Marshal(invalid)
	_, _ = env.JS.Publish(ctx, "driftgate.object.changed.z", ib)
	for i := range 10 {
		d := objectChanged(i)
		switch i {
		case 3:
			d.Object.Name = "cm-poison"
		case 6:
			d.Object.Name = "cm-flaky"
		}
		if _, err := pub.Publish(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "8 good events", func() bool { return good.Load() == 8 })
	waitFor(t, "5 dead letters", func() bool { return len(deadLetters(t, env, "svc")) == 5 })
	reasons := map[string]bool{}
	for _, m := range deadLetters(t, env, "svc") {
		reasons[m.Header.Get(events.HeaderReason)] = true
		if m.Header.Get(events.HeaderOrigSubj) == "" || m.Header.Get(events.HeaderOrigSeq) == "" {
			t.Errorf("dead letter lacks origin headers: %v", m.Header)
		}
	}
	for _, want := range []string{"not a CloudEvent", `unknown event type "dev.driftgate.nonsense.v9"`, "invalid " + events.TypeObjectChanged,
		"poison: cannot be handled", "gave up after 3 attempts: still failing"} {
		found := false
		for r := range reasons {
			if strings.Contains(r, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no dead letter with reason %q in %v", want, reasons)
		}
	}
}

func TestSharedDurableSplitsWork(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[string]int{}
	h := func(_ context.Context, e cloudevents.Event, _ events.Data) events.Result {
		mu.Lock()
		seen[e.ID()]++
		mu.Unlock()
		return events.Ack()
	}
	_, js2 := env.Connect(t)
	stop1 := run(t, env.JS, events.ConsumerConfig{Durable: "shared"}, h)
	stop2 := run(t, js2, events.ConsumerConfig{Durable: "shared"}, h)
	pub := events.NewPublisher(env.JS, "test")
	for i := range 200 {
		if _, err := pub.Publish(ctx, objectChanged(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "200 events", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 200 })
	stop1()
	stop2()
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

func TestLeaseExactlyOneWinsAndPassesOnAfterTTL(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	const ttl = 400 * time.Millisecond
	var wins atomic.Int32
	var wg sync.WaitGroup
	var winner string
	var mu sync.Mutex
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("replica-%d", i)
			if _, err := events.AcquireLease(ctx, env.Buckets.Leases, "marketplace", holder, ttl); err == nil {
				wins.Add(1)
				mu.Lock()
				winner = holder
				mu.Unlock()
			} else if !errors.Is(err, events.ErrLeaseHeld) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d holders won, want exactly 1", wins.Load())
	}
	if _, err := events.AcquireLease(ctx, env.Buckets.Leases, "marketplace", "late", ttl); !errors.Is(err, events.ErrLeaseHeld) {
		t.Fatalf("second holder during TTL: err = %v", err)
	}
	// The winner "crashes": it never renews. After the TTL the lease passes on.
	time.Sleep(ttl + 100*time.Millisecond)
	l, err := events.AcquireLease(ctx, env.Buckets.Leases, "marketplace", "late", ttl)
	if err != nil {
		t.Fatalf("after TTL of %s: %v", winner, err)
	}
	if err := l.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := events.AcquireLease(ctx, env.Buckets.Leases, "marketplace", "next", ttl); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestWithLeaseCancelsWhenLost(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	err := events.WithLease(ctx, env.Buckets.Leases, "ws", "a", 300*time.Millisecond, func(ctx context.Context) error {
		// Someone purges the key: the next renewal fails and ctx ends.
		if err := env.Buckets.Leases.Purge(ctx, events.Key("ws")); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(5 * time.Second):
			return errors.New("context not cancelled after losing the lease")
		}
	})
	if !errors.Is(err, events.ErrLeaseLost) {
		t.Fatalf("err = %v, want ErrLeaseLost", err)
	}
}

func TestEscapeTokenRoundTripsHostileNames(t *testing.T) {
	for _, s := range []string{"", "marketplace", "my.app", "*", ">", "a b", "a\tb", "ünïcødé-名前", "=", "==41", "a.*.>", "%2E",
		"kubernetes_manifest.x[\"key/with/slash\"]", strings.Repeat(".", 10)} {
		tok := events.EscapeToken(s)
		if tok == "" || strings.ContainsAny(tok, ".*> \t\r\n%") {
			t.Errorf("EscapeToken(%q) = %q is not a valid token", s, tok)
		}
		back, err := events.UnescapeToken(tok)
		if err != nil || back != s {
			t.Errorf("UnescapeToken(EscapeToken(%q)) = %q, %v", s, back, err)
		}
	}
	parts := []string{"lab", "", "Deployment", "my.ns", "*"}
	got, err := events.SplitKey(events.Key(parts...))
	if err != nil || !reflect.DeepEqual(got, parts) {
		t.Errorf("SplitKey(Key(%q)) = %q, %v", parts, got, err)
	}
	for _, bad := range []string{"=4", "=ZZ", "a=G1"} {
		if _, err := events.UnescapeToken(bad); err == nil {
			t.Errorf("UnescapeToken(%q) accepted", bad)
		}
	}
}

func TestHostileNamesPublishAndFilter(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	d := objectChanged(1)
	d.Object.Name = "weird.name *>"
	d.Object.Namespace = "ns.with.dots"
	if _, err := events.NewPublisher(env.JS, "test").Publish(ctx, d); err != nil {
		t.Fatal(err)
	}
	filter := "driftgate.object.changed.lab.apps.Deployment." + events.EscapeToken("ns.with.dots") + ".*"
	if n := countSubject(t, env, strings.TrimSuffix(filter, "*")+events.EscapeToken("weird.name *>")); n != 1 {
		t.Fatalf("found %d messages under the escaped subject, want 1", n)
	}
}

func TestSubjectFilter(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "driftgate.>",
		"import":                          "driftgate.import.>",
		"import.*":                        "driftgate.import.>",
		"dev.driftgate.import":            "driftgate.import.>",
		"dev.driftgate.object.changed.v1": "driftgate.object.changed.>",
		"drift.detected":                  "driftgate.drift.detected.>",
		"dri":                             "",
		"nonsense":                        "",
	} {
		if got := events.SubjectFilter(in); got != want {
			t.Errorf("SubjectFilter(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTraceparentTravels(t *testing.T) {
	env := eventstest.Start(t)
	e, err := events.New("test", samples()[0])
	if err != nil {
		t.Fatal(err)
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	e.SetExtension(events.ExtTraceparent, tp)
	ctx := events.TraceContext(context.Background(), e)
	pe, err := events.NewPublisher(env.JS, "test").Publish(ctx, samples()[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := pe.Extensions()[events.ExtTraceparent]; got == nil || !strings.Contains(fmt.Sprint(got), "4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Fatalf("traceparent = %v, want the trace id carried on", got)
	}
}

// TestPublisherLast: the last event stored under an object's subject, nil
// when there is none, and nil when the last message there is not an event.
func TestPublisherLast(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	pub := events.NewPublisher(env.JS, "test")
	oc := objectChanged(3)
	if d, err := pub.Last(ctx, oc); err != nil || d != nil {
		t.Fatalf("nothing stored: got %v, %v", d, err)
	}
	if _, err := pub.Publish(ctx, oc); err != nil {
		t.Fatal(err)
	}
	d, err := pub.Last(ctx, oc)
	if got, ok := d.(*events.ObjectChanged); err != nil || !ok || got.ResourceVersion != oc.ResourceVersion {
		t.Fatalf("after a publish: got %v, %v", d, err)
	}
	if _, err := env.JS.Publish(ctx, events.NATSSubject(oc), []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	if d, err := pub.Last(ctx, oc); err != nil || d != nil {
		t.Fatalf("junk stored last: got %v, %v", d, err)
	}
}
