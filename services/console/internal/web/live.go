package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// liveEvent is what the browser is told about an event: enough to decide
// whether its page needs refreshing, never an event's data.
type liveEvent struct {
	Type      string `json:"type"`
	Subject   string `json:"subject"`
	Workspace string `json:"workspace,omitempty"`
	FindingID string `json:"finding_id,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Seq       uint64 `json:"seq"`
}

// hub fans live events out to the open pages, and keeps the last plan of
// every workspace and the last health report of every component.
type hub struct {
	mu     sync.Mutex
	subs   map[chan liveEvent]struct{}
	closed bool
	plans  map[string]*events.PlanCompleted
	health map[string]healthRow
}

type healthRow struct {
	At   time.Time
	Data *events.ClusterHealth
}

func newHub() *hub {
	return &hub{subs: map[chan liveEvent]struct{}{}, plans: map[string]*events.PlanCompleted{}, health: map[string]healthRow{}}
}

func (h *hub) subscribe() (chan liveEvent, func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan liveEvent, 64)
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// record keeps what the overview shows from an event, and tells the open
// pages when broadcast is set.
func (h *hub) record(e events.Entry, broadcast bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	le := liveEvent{Type: e.Type, Subject: e.Subject, Seq: e.Seq}
	switch d := e.Data.(type) {
	case *events.PlanCompleted:
		if cur := h.plans[d.WS]; cur == nil || !d.StartedAt.Before(cur.StartedAt) {
			h.plans[d.WS] = d
		}
		le.Workspace = d.WS
	case *events.ClusterHealth:
		k := d.Cluster + "\x00" + d.Component + "\x00" + d.Node + "\x00" + d.WS + "\x00" + d.Condition
		if cur, ok := h.health[k]; !ok || !e.Time.Before(cur.At) {
			h.health[k] = healthRow{At: e.Time, Data: d}
		}
		le.Workspace = d.WS
	case *events.DriftDetected:
		le.Workspace, le.FindingID = d.Finding.Workspace, d.Finding.ID
	case *events.DriftResolved:
		le.Workspace, le.FindingID = d.Finding.Workspace, d.Finding.ID
	case *events.Import:
		le.Workspace, le.FindingID, le.RequestID = d.WS, d.FindingID, d.RequestID
	case *events.SourceUpdated:
		le.Workspace = d.WS
	}
	if !broadcast {
		return
	}
	for ch := range h.subs {
		select {
		case ch <- le:
		default: // a page that does not read is not waited for; it refreshes on its next event
		}
	}
}

func (h *hub) lastPlan(ws string) *events.PlanCompleted {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.plans[ws]
}

func (h *hub) healthRows() []healthRow {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]healthRow, 0, len(h.health))
	for _, r := range h.health {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Data, out[j].Data
		return a.Cluster+a.Component+a.Node+a.WS < b.Cluster+b.Component+b.Node+b.WS
	})
	return out
}

// watch primes the overview with the last plan and health report per
// subject, then follows every new event of the stream for the open pages.
func (s *Server) watch(ctx context.Context) error {
	start, err := s.js.Stream(ctx, events.StreamName)
	if err != nil {
		return fmt.Errorf("console: stream %s: %w", events.StreamName, err)
	}
	info, err := start.Info(ctx)
	if err != nil {
		return fmt.Errorf("console: stream %s: %w", events.StreamName, err)
	}
	// Follow first, from the sequence after the stream's end now, so that
	// nothing published while priming is missed.
	follow, err := s.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.StreamSubjects},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: info.State.LastSeq + 1,
	})
	if err != nil {
		return fmt.Errorf("console: follow the stream: %w", err)
	}
	if err := s.prime(ctx, info.State.LastSeq); err != nil {
		s.log.Warn("console: reading the last plans and health reports", "err", err)
	}
	cc, err := follow.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		e, ok, _ := events.ReadEntry(events.ReplayFilter{}, m.Subject(), m.Headers(), m.Data(), md.Sequence.Stream, md.Timestamp)
		if ok && e.Data != nil {
			s.live.record(e, true)
		}
	})
	if err != nil {
		return fmt.Errorf("console: follow the stream: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

// prime reads the last plan.completed and cluster.health of every subject
// up to sequence last.
func (s *Server) prime(ctx context.Context, last uint64) error {
	if last == 0 {
		return nil
	}
	cons, err := s.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.TypeSubject(events.TypePlanCompleted) + ".>", events.TypeSubject(events.TypeClusterHealth) + ".>"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return err
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return err
	}
	if ci.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		if md.Sequence.Stream <= last {
			if e, ok, _ := events.ReadEntry(events.ReplayFilter{}, m.Subject(), m.Headers(), m.Data(), md.Sequence.Stream, md.Timestamp); ok && e.Data != nil {
				s.live.record(e, false)
			}
		}
		if md.NumPending == 0 {
			return nil
		}
	}
}

// sse streams live events to an open page (GET /events).
// The stream ends when the login does; the browser's reconnect then meets
// the login check again.
func (s *Server) sse(w http.ResponseWriter, r *http.Request, p *Person) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	ch, stop := s.live.subscribe()
	defer stop()
	_, _ = fmt.Fprint(w, "retry: 2000\nevent: hello\ndata: {}\n\n")
	fl.Flush()
	keep := time.NewTicker(25 * time.Second)
	defer keep.Stop()
	expired := time.NewTimer(time.Until(p.Exp))
	defer expired.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-expired.C:
			return
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case le, ok := <-ch:
			if !ok {
				return
			}
			b, err := json.Marshal(le)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: driftgate\nid: %d\ndata: %s\n\n", le.Seq, b); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
