package events

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ReplayFilter selects events from the stream, as `driftgate audit`'s flags
// and the console's audit page do. Empty fields match everything.
type ReplayFilter struct {
	Since, Until time.Time
	// TypePrefix is normalised (NormaliseType): dev.driftgate.import, or
	// "deadletter" / "invalid" for what is not a valid event.
	TypePrefix string
	Workspace  string
	// Object is a subject, object path or address, or a '/'-aligned suffix
	// of one (shop/marketplace, Deployment/shop/marketplace).
	Object string
}

// Entry is one message of the stream as a replay reads it. For a valid
// event Data is set and Body is its JSON; a dead letter has Type
// "deadletter" and Consumer/Reason; a message that is not a valid event (it
// does not decode, its header type is not its envelope's, or it is stored
// under another subject than the one its content names) has Type
// "invalid", its Reason, and never its body. Body is read-only: the
// strings of Data may share its memory.
type Entry struct {
	Seq      uint64
	Time     time.Time
	Type     string
	Subject  string
	Summary  string
	Data     Data
	Body     []byte
	Consumer string
	Reason   string
}

// Replay calls fn with every message of the stream matching f, in stream
// order, and stops at the stream's end as it was when it started. Messages
// are decoded and filtered by several goroutines (a replay's cost is mostly
// decoding) a batch at a time, at most replayBatches batches in flight, and
// fn is called from the calling goroutine: memory stays flat however long
// the stream. skipped counts invalid messages the filter left out.
func Replay(ctx context.Context, js jetstream.JetStream, f ReplayFilter, fn func(Entry) error) (skipped int, err error) {
	s, err := js.Stream(ctx, StreamName)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", StreamName, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return 0, nil
	}
	subject := StreamSubjects
	switch {
	case f.TypePrefix == "deadletter":
		subject = DeadLetterRoot + ".>"
	case f.TypePrefix != "":
		if s := SubjectFilter(f.TypePrefix); s != "" {
			subject = s
		}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if !f.Since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		st := f.Since
		cfg.OptStartTime = &st
	}
	cons, err := js.OrderedConsumer(ctx, StreamName, cfg)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	if ci.NumPending == 0 {
		return 0, nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(replayBatch * 4))
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// On the way out: stop the reader (Stop ends a Next that waits), then
	// wait for the workers.
	defer wg.Wait()
	defer it.Stop()
	defer cancel()
	workers := max(runtime.GOMAXPROCS(0), 1)
	work := make(chan *replayBatchT, workers)
	order := make(chan *replayBatchT, replayBatches)
	for range workers {
		wg.Go(func() {
			for b := range work {
				for i := range b.msgs {
					m := &b.msgs[i]
					b.out[i].e, b.out[i].match, b.out[i].invalid = ReadEntry(f, m.subject, m.header, m.data, m.seq, m.at)
				}
				close(b.done)
			}
		})
	}
	// The reader: batches in stream order, to the workers and to the
	// emitter below; it ends at the stream's end (or at --until), or with
	// the error it met.
	var readErr error
	go func() {
		defer close(order)
		defer close(work)
		b := newReplayBatch()
		send := func() bool {
			if len(b.msgs) == 0 {
				return true
			}
			b.out = make([]replayResult, len(b.msgs))
			select {
			case order <- b:
			case <-rctx.Done():
				return false
			}
			select {
			case work <- b:
			case <-rctx.Done():
				return false
			}
			b = newReplayBatch()
			return true
		}
		for {
			m, err := it.Next()
			if err != nil {
				if rctx.Err() == nil {
					readErr = fmt.Errorf("replay: %w", err)
				}
				send()
				return
			}
			md, err := m.Metadata()
			if err != nil {
				readErr = fmt.Errorf("replay: %w", err)
				send()
				return
			}
			if !f.Until.IsZero() && md.Timestamp.After(f.Until) {
				send()
				return
			}
			b.msgs = append(b.msgs, replayMsg{subject: m.Subject(), header: m.Headers(), data: m.Data(), seq: md.Sequence.Stream, at: md.Timestamp})
			end := md.NumPending == 0 || md.Sequence.Stream >= last
			if end || len(b.msgs) == replayBatch {
				if !send() || end {
					return
				}
			}
		}
	}()
	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return skipped, fmt.Errorf("replay: %w", ctx.Err())
		}
		for _, r := range b.out {
			if r.invalid {
				skipped++
			}
			if r.match {
				if err := fn(r.e); err != nil {
					return skipped, err
				}
			}
		}
	}
	return skipped, readErr
}

// A replay reads replayBatch messages a batch, with at most replayBatches
// batches read ahead of the one being written out.
const (
	replayBatch   = 256
	replayBatches = 8
)

type replayMsg struct {
	subject string
	header  map[string][]string
	data    []byte
	seq     uint64
	at      time.Time
}

type replayResult struct {
	e              Entry
	match, invalid bool
}

type replayBatchT struct {
	msgs []replayMsg
	out  []replayResult
	done chan struct{} // closed when out is filled
}

func newReplayBatch() *replayBatchT {
	return &replayBatchT{msgs: make([]replayMsg, 0, replayBatch), done: make(chan struct{})}
}

// ReadEntry turns one stream message into an Entry and says whether it
// matches f; invalid is true for a message that is not a valid event and
// that f leaves out.
func ReadEntry(f ReplayFilter, subject string, h map[string][]string, body []byte, seq uint64, at time.Time) (e Entry, match, invalid bool) {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	e = Entry{Seq: seq, Time: at, Type: get(HeaderType)}
	if strings.HasPrefix(subject, DeadLetterRoot+".") {
		e.Type = "deadletter"
		e.Subject = get(HeaderOrigSubj)
		e.Consumer, e.Reason = get(HeaderConsumer), get(HeaderReason)
		e.Summary = "dead-lettered by " + e.Consumer + ": " + e.Reason
		return e, matchType(f, e.Type) && (f.Workspace == "" || get(HeaderWorkspace) == f.Workspace), false
	}
	typ, subj, d, err := decodeEvent(body)
	if err == nil && e.Type != typ {
		err = fmt.Errorf("header type %q does not match the envelope's %q", e.Type, typ)
	}
	// An event is stored under the one subject its content names, and the
	// per-service users of deploy/nats/accounts.conf may publish only their
	// own subjects: one stored elsewhere is not a fact.
	if err == nil && !storedUnder(subject, d) {
		err = fmt.Errorf("stored under %s, but the event belongs under %s", subject, NATSSubject(d))
	}
	if err != nil {
		// A message that is not a valid event is never shown as one: its
		// body is withheld, only where it was and why it is not a fact.
		if !matchType(f, "invalid") || f.Workspace != "" || f.Object != "" {
			return e, false, true
		}
		e.Type, e.Subject, e.Reason = "invalid", subject, err.Error()
		e.Summary = "not a valid event: " + err.Error()
		return e, true, false
	}
	if !matchType(f, e.Type) || (f.Workspace != "" && get(HeaderWorkspace) != f.Workspace) {
		return e, false, false
	}
	e.Subject, e.Summary, e.Data, e.Body = subj, d.Summary(), d, body
	if f.Object != "" && !MatchObject(f.Object, e.Subject, d) {
		return e, false, false
	}
	return e, true, false
}

// NormaliseType turns "import", "drift.detected" into "dev.driftgate.import",
// "dev.driftgate.drift.detected"; "deadletter" and "invalid" stay as they are.
func NormaliseType(p string) string {
	p = strings.TrimSuffix(strings.TrimSuffix(p, "*"), ".")
	if p == "" || p == "deadletter" || p == "invalid" || strings.HasPrefix(p, "dev.") || strings.HasPrefix("dev.driftgate", p) {
		return p
	}
	return "dev.driftgate." + p
}

func matchType(f ReplayFilter, typ string) bool {
	return f.TypePrefix == "" || strings.HasPrefix(typ, f.TypePrefix)
}

// MatchObject: the key equals the subject or is a '/'-aligned suffix of it
// or of the path or address of what the event is about.
func MatchObject(key, subject string, d Data) bool {
	cands := []string{subject}
	switch d := d.(type) {
	case *ObjectChanged:
		cands = append(cands, d.Object.Path())
	case *DriftDetected:
		cands = append(cands, d.Finding.Object.Path(), d.Finding.Address)
	case *DriftResolved:
		cands = append(cands, d.Finding.Object.Path(), d.Finding.Address)
	case *Import:
		cands = append(cands, d.Object.Path(), d.Address)
	}
	for _, c := range cands {
		if c == key || strings.HasSuffix(c, "/"+key) {
			return true
		}
	}
	return false
}
