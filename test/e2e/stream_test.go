package e2e_test

import (
	"context"
	"os"
	"testing"
	"time"

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
type record = eventstest.Recorded

// stream is the shared recorder of the DRIFTGATE stream, with the helpers
// these tests read it through: waits and counts take a mark and see only
// the events after it.
type stream struct {
	*eventstest.Recorder
	t testing.TB
}

func collect(t testing.TB, env *eventstest.Env) *stream {
	t.Helper()
	return &stream{Recorder: env.Record(t), t: t}
}

// mark is the number of events read so far.
func (s *stream) mark() int { return s.Mark() }

func (s *stream) since(mark int) []record { return s.Since(mark) }

// wait returns the first event after mark for which ok holds.
func (s *stream) wait(mark int, timeout time.Duration, what string, ok func(events.Data) bool) record {
	s.t.Helper()
	return s.WaitFor(s.t, mark, timeout, what, func(r record) bool { return ok(r.Data) })
}

func (s *stream) describe(mark int) string { return s.Describe(mark) }

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

// startWatcher runs the real watcher in this process until the test ends
// or stop is called.
func startWatcher(t testing.TB, env *eventstest.Env, cfg *config.File, instance string) (stop func()) {
	t.Helper()
	cfg.ApplyDefaults() // as config.Load does; tests build their configs in code
	r, err := watcher.New(cfg, service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: quietLog().With("svc", "watcher"),
		Health: obs.NewHealth(), Instance: instance, Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Run(t, "watcher "+instance, r)
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
