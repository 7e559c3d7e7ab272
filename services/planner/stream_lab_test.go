package planner_test

import (
	"context"
	"fmt"
	"os"
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
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/services/watcher"
)

// record is one event read back from the stream.
type record struct {
	seq  uint64
	subj string
	raw  []byte
	at   time.Time // when the test read it
	data events.Data
}

// stream collects every event of the DRIFTGATE stream as it is stored.
type stream struct {
	t   testing.TB
	mu  sync.Mutex
	all []record
	new chan struct{}
}

func collect(t testing.TB, env *eventstest.Env) *stream {
	t.Helper()
	s := &stream{t: t, new: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cons, err := env.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, _ := m.Metadata()
		r := record{subj: m.Subject(), raw: append([]byte(nil), m.Data()...), at: time.Now()}
		if md != nil {
			r.seq = md.Sequence.Stream
		}
		if _, d, err := events.Decode(m.Data()); err == nil {
			r.data = d
		}
		s.mu.Lock()
		s.all = append(s.all, r)
		s.mu.Unlock()
		select {
		case s.new <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return s
}

// mark is the number of events read so far: waits and counts after it see
// only later events.
func (s *stream) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func (s *stream) since(mark int) []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.all[mark:]...)
}

// wait returns the first event after mark for which ok holds.
func (s *stream) wait(mark int, timeout time.Duration, what string, ok func(events.Data) bool) record {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		for _, r := range s.since(mark) {
			if r.data != nil && ok(r.data) {
				return r
			}
		}
		select {
		case <-s.new:
		case <-deadline:
			s.t.Fatalf("no %s within %s; events since mark:\n%s", what, timeout, s.describe(mark))
		}
	}
}

func (s *stream) describe(mark int) string {
	var b strings.Builder
	for _, r := range s.since(mark) {
		if r.data == nil {
			fmt.Fprintf(&b, "  %s (undecodable)\n", r.subj)
			continue
		}
		fmt.Fprintf(&b, "  %s %s\n", r.data.EventType(), r.data.Summary())
	}
	return b.String()
}

func detected(addr, class string) func(events.Data) bool {
	return func(d events.Data) bool {
		dd, ok := d.(*events.DriftDetected)
		return ok && dd.Finding.Address == addr && dd.Finding.Class == class
	}
}

func resolved(id string) func(events.Data) bool {
	return func(d events.Data) bool {
		dr, ok := d.(*events.DriftResolved)
		return ok && dr.Finding.ID == id
	}
}

func planCompleted(ws, trigger string) func(events.Data) bool {
	return func(d events.Data) bool {
		pc, ok := d.(*events.PlanCompleted)
		return ok && pc.WS == ws && (trigger == "" || pc.Trigger == trigger)
	}
}

// startWatcher runs the real watcher in this process until the test ends.
func startWatcher(t testing.TB, env *eventstest.Env, cfg *config.File, instance string) {
	t.Helper()
	cfg.ApplyDefaults() // as config.Load does; tests build their configs in code
	r, err := watcher.New(cfg, service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: quietLog().With("svc", "watcher"),
		Health: obs.NewHealth(), Instance: instance, Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	servicetest.Run(t, "watcher "+instance, r)
}

// startPlanner runs a planner replica in this process; stop ends it.
func startPlanner(t testing.TB, env *eventstest.Env, cfg *config.File, instance, dataDir string, opts ...planner.Option) (stop func()) {
	t.Helper()
	cfg.ApplyDefaults()
	s, err := planner.New(cfg, service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: quietLog().With("svc", "planner", "instance", instance),
		Health: obs.NewHealth(), Instance: instance, DataDir: dataDir, Getenv: os.Getenv}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Run(t, "planner "+instance, s)
}

// pendingLeft counts the planner's pending changes in the state bucket.
func pendingLeft(t testing.TB, env *eventstest.Env) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := env.Buckets.State.ListKeysFiltered(ctx, "planner.pending.>")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range l.Keys() {
		n++
	}
	return n
}
