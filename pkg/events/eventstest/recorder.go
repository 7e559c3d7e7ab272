package eventstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// Recorded is one message of the DRIFTGATE stream, as the Recorder read it.
type Recorded struct {
	Seq     uint64 // stream sequence
	Subject string
	Raw     []byte
	At      time.Time         // when the recorder read it
	Event   cloudevents.Event // zero when Data is nil
	Data    events.Data       // nil when the message is not a driftgate event (a dead letter, say)
}

// Recorder reads every message of the DRIFTGATE stream, in stream order, from
// the moment it is started until the test ends.
//
// A test that asserts that something happened only once, or not at all,
// must not sleep and count: a slower run makes that pass without checking
// anything. It waits instead for a fact after which any second occurrence
// would already be in the stream (the plan.completed that covers a change,
// a later marker event, a consumer caught up), then calls WaitCaughtUp, then
// counts.
type Recorder struct {
	js      jetstream.JetStream
	mu      sync.Mutex
	got     []Recorded
	changed chan struct{} // closed and replaced on every message
}

// Record starts a Recorder on js's DRIFTGATE stream; it stops when the test
// ends.
func Record(t testing.TB, js jetstream.JetStream) *Recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cons, err := js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		cancel()
		t.Fatalf("recorder: %v", err)
	}
	r := &Recorder{js: js, changed: make(chan struct{})}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		rec := Recorded{Subject: m.Subject(), Raw: append([]byte(nil), m.Data()...), At: time.Now()}
		if md, err := m.Metadata(); err == nil {
			rec.Seq = md.Sequence.Stream
		}
		if e, d, err := events.Decode(m.Data()); err == nil {
			rec.Event, rec.Data = e, d
		}
		r.mu.Lock()
		r.got = append(r.got, rec)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	})
	if err != nil {
		cancel()
		t.Fatalf("recorder: %v", err)
	}
	t.Cleanup(func() {
		cc.Stop()
		cancel()
	})
	return r
}

// Record starts a Recorder on the env's stream.
func (e *Env) Record(t testing.TB) *Recorder { return Record(t, e.JS) }

// Mark is the number of messages read so far: Since, WaitFor and Count
// from a mark see only later messages.
func (r *Recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// Since returns the messages read after mark, in stream order.
func (r *Recorder) Since(mark int) []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.got[mark:]...)
}

// All returns every message read, in stream order.
func (r *Recorder) All() []Recorded { return r.Since(0) }

// Count is the number of events after mark that match.
func (r *Recorder) Count(mark int, match func(Recorded) bool) int {
	n := 0
	for _, rec := range r.Since(mark) {
		if rec.Data != nil && match(rec) {
			n++
		}
	}
	return n
}

// WaitFor returns the first event after mark that matches, and fails the
// test if none is read within timeout.
func (r *Recorder) WaitFor(t testing.TB, mark int, timeout time.Duration, what string, match func(Recorded) bool) Recorded {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i := mark; ; {
		r.mu.Lock()
		got, changed := r.got, r.changed
		r.mu.Unlock()
		for ; i < len(got); i++ {
			if got[i].Data != nil && match(got[i]) {
				return got[i]
			}
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("no %s within %s; events since mark:\n%s", what, timeout, r.Describe(mark))
			return Recorded{}
		}
	}
}

// WaitCaughtUp waits until the recorder has read every message the stream
// held when it was called: a count after it sees everything published
// before the call.
func (r *Recorder) WaitCaughtUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := r.js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatalf("recorder: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("recorder: %v", err)
	}
	last := info.State.LastSeq
	for {
		r.mu.Lock()
		var seen uint64
		if n := len(r.got); n > 0 {
			seen = r.got[n-1].Seq
		}
		changed := r.changed
		r.mu.Unlock()
		if seen >= last {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("recorder read up to sequence %d within %s, the stream holds %d", seen, timeout, last)
		}
	}
}

// Describe lists the events after mark, one a line, for failure messages.
func (r *Recorder) Describe(mark int) string {
	var b strings.Builder
	for _, rec := range r.Since(mark) {
		if rec.Data == nil {
			fmt.Fprintf(&b, "  #%d %s (not an event)\n", rec.Seq, rec.Subject)
			continue
		}
		fmt.Fprintf(&b, "  #%d %s %s %s\n", rec.Seq, rec.Event.Source(), rec.Data.EventType(), rec.Data.Summary())
	}
	return b.String()
}
