package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier/internal/route"
	"github.com/driftgate/driftgate/services/notifier/internal/sink"
)

// worker delivers to one sink.
type worker struct {
	cfg      SinkConfig
	d        service.Deps
	o        options
	routes   *route.Table
	pub      *events.Publisher
	metrics  *metrics
	digest   time.Duration
	remind   time.Duration
	durable  string
	subjects []string
	log      *slog.Logger
	now      func() time.Time

	// Owned by serve's loop.
	pending   map[string]pendingMark
	reminding map[string]bool
	limiter   *rate.Limiter
	// stalled are messages that could not be decided yet (the delivery
	// marks could not be read), first the one that failed, then every
	// message received after it: a later event of a finding must never be
	// decided before an earlier one (an opening taken for a repeat because
	// the resolution before it was put back). Retried in order.
	stalled []jetstream.Msg
}

// item is one alert in the sink's queue, with the stream messages it covers.
type item struct {
	alert    *sink.Alert
	forType  string
	msgs     []jetstream.Msg
	group    string // digest key; "" for a single event
	deadline time.Time
	closed   bool
	marks    []markWrite
	reminder []string // finding ids of a reminder
}

// queue is the sink's alerts in stream order. Only the head is delivered; a
// digest at the head waits until its plan completed or its window closed.
type queue struct {
	items  []*item
	groups map[string]*item
}

func (q *queue) headReady(now time.Time) *item {
	if len(q.items) == 0 {
		return nil
	}
	h := q.items[0]
	if h.group == "" || h.closed || !now.Before(h.deadline) {
		h.closed = true
		return h
	}
	return nil
}

func (q *queue) headDeadline() time.Time {
	if len(q.items) > 0 && q.items[0].group != "" && !q.items[0].closed {
		return q.items[0].deadline
	}
	return time.Time{}
}

func (q *queue) openGroup(key string, now time.Time) *item {
	it := q.groups[key]
	if it == nil || it.closed || !now.Before(it.deadline) || len(it.alert.Entries) >= MaxDigest {
		return nil
	}
	return it
}

func (q *queue) closeGroup(key string) {
	if it := q.groups[key]; it != nil {
		it.closed = true
	}
}

func (q *queue) push(it *item) {
	q.items = append(q.items, it)
	if it.group != "" {
		q.groups[it.group] = it
	}
}

func (q *queue) pop(it *item) {
	if len(q.items) > 0 && q.items[0] == it {
		q.items = q.items[1:]
	}
	if it.group != "" && q.groups[it.group] == it {
		delete(q.groups, it.group)
	}
}

type sendResult struct {
	err       error
	attempts  int
	status    int
	cancelled bool
}

// serve consumes and delivers until ctx ends (shutdown or lease lost).
func (w *worker) serve(ctx context.Context) error {
	cons, err := w.ensureConsumer(ctx) // idempotent; recreates one an operator deleted
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("consumer %s: messages: %w", w.durable, err)
	}
	w.pending = map[string]pendingMark{}
	w.reminding = map[string]bool{}
	w.limiter = rate.NewLimiter(rate.Inf, 1)
	if w.cfg.RatePerMin > 0 {
		w.limiter = rate.NewLimiter(rate.Limit(float64(w.cfg.RatePerMin)/60), max(1, w.cfg.RatePerMin/10))
	}
	w.log.Info("delivering", "consumer", w.durable, "subjects", w.subjects)

	in := make(chan jetstream.Msg)
	stop := make(chan struct{})
	fetched := make(chan struct{})
	go w.fetch(it, in, stop, fetched)
	go w.sweepLoop(ctx)

	// A replica that died holding messages (SIGKILL, a lost node) leaves
	// them unacked until their ack wait runs out, and the consumer hands us
	// later messages first: the lifecycle would be decided out of order (a
	// resolution taken for a repeat and dropped, an opening alerted after
	// its resolution). So until every message the consumer has out is in
	// our hands, what arrives is held back; then it is taken in stream
	// order. Bounded: after three ack waits it goes on regardless.
	//
	// The same holds while serving: a delivery lost on its way (the
	// connection to a NATS node dropped mid-delivery) stays out until its
	// ack wait runs out while the consumer goes on with later messages. A
	// gap in the consumer's delivery sequence shows it, and closes the gate
	// again until the lost message is back.
	g := &gate{cons: cons, until: w.now().Add(3 * w.o.ackWait), log: w.log}
	gateEvery := max(min(time.Second, w.o.ackWait/4), 10*time.Millisecond)
	gateTick := time.NewTicker(gateEvery)
	defer gateTick.Stop()
	gateC := gateTick.C
	var lastDelivery uint64 // the consumer sequence of the last delivery received

	q := &queue{groups: map[string]*item{}}
	var sending *item
	results := make(chan sendResult, 1)
	heartbeat := time.NewTicker(max(w.o.ackWait/3, 100*time.Millisecond))
	defer heartbeat.Stop()
	var remindC <-chan time.Time
	if w.remind > 0 && w.cfg.Reminders {
		t := time.NewTicker(min(max(w.remind/4, time.Second), time.Minute))
		defer t.Stop()
		remindC = t.C
	}
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	w.stalled = nil
	retryTick := time.NewTicker(stallRetry)
	defer retryTick.Stop()
	take := func(m jetstream.Msg) {
		if len(w.stalled) > 0 || !w.accept(ctx, q, m) {
			w.stalled = append(w.stalled, m)
		}
	}
	openGate := func() {
		if gateC == nil || !g.open(ctx, w.now(), inHand(q, g.held, w.stalled)) {
			return
		}
		gateC = nil
		gateTick.Stop()
		for _, m := range g.release() {
			take(m)
		}
	}
	openGate()

	for {
		now := w.now()
		if sending == nil {
			if h := q.headReady(now); h != nil {
				sending = h
				go func() { results <- w.deliver(ctx, h) }()
			}
		}
		next := time.Hour
		if dl := q.headDeadline(); !dl.IsZero() {
			next = max(dl.Sub(now), time.Millisecond)
		}
		wake.Reset(next)
		select {
		case <-ctx.Done():
			close(stop)
			it.Drain()
			if sending != nil {
				// The attempt in flight finishes (within its timeout); a
				// backoff wait does not.
				if r := <-results; !r.cancelled {
					w.finish(ctx, q, sending, r)
				}
			}
			select {
			case <-fetched:
			case <-time.After(5 * time.Second):
				it.Stop()
			}
			for _, h := range q.items {
				for _, m := range h.msgs {
					_ = m.Nak()
				}
			}
			for _, m := range g.held {
				_ = m.Nak()
			}
			for _, m := range w.stalled {
				_ = m.Nak()
			}
			w.stalled = nil
			return nil
		case m := <-in:
			if missing := deliveryGap(m, &lastDelivery); missing > 0 && gateC == nil {
				w.log.Warn("deliveries of this sink's consumer did not arrive (lost on their way); holding what follows until they are redelivered",
					"missing", missing, "ack_wait", w.o.ackWait.String())
				g = &gate{cons: cons, until: w.now().Add(3 * w.o.ackWait), log: w.log, waited: true}
				gateTick.Reset(gateEvery)
				gateC = gateTick.C
			}
			if gateC != nil {
				g.held = append(g.held, m)
				continue
			}
			take(m)
		case <-gateC:
			openGate()
		case <-retryTick.C:
			for len(w.stalled) > 0 && w.accept(ctx, q, w.stalled[0]) {
				w.stalled = w.stalled[1:]
			}
		case r := <-results:
			w.finish(ctx, q, sending, r)
			sending = nil
		case <-wake.C:
		case <-heartbeat.C:
			for _, h := range q.items {
				for _, m := range h.msgs {
					_ = m.InProgress()
				}
			}
			for _, m := range g.held {
				_ = m.InProgress()
			}
			for _, m := range w.stalled {
				_ = m.InProgress()
			}
		case <-remindC:
			w.enqueueReminders(ctx, q)
		}
	}
}

// gate holds back what a new holder of the sink receives until every
// message the consumer has out is in its hands (see serve).
type gate struct {
	cons   jetstream.Consumer
	until  time.Time
	log    *slog.Logger
	held   []jetstream.Msg
	waited bool
}

// open reports whether the held messages can be taken: no message of the
// consumer is out with anyone else (its ack-pending count is no more than
// the unacked messages in our hands, inHand), or the bound passed.
func (g *gate) open(ctx context.Context, now time.Time, inHand int) bool {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	info, err := g.cons.Info(ictx)
	cancel()
	if err == nil && info.NumAckPending <= inHand {
		if g.waited {
			g.log.Info("the messages out unacked (a previous holder's, or lost on their way) are back; delivering in stream order", "messages", len(g.held))
		}
		return true
	}
	if !now.Before(g.until) {
		g.log.Warn("messages out unacked (a previous holder's, or lost on their way) did not come back; delivering what arrived", "held", len(g.held), "err", err)
		return true
	}
	if !g.waited && err == nil {
		g.waited = true
		g.log.Info("waiting for the messages a previous holder left unacked", "out", info.NumAckPending-inHand)
	}
	return false
}

// release returns the held messages in stream order.
func (g *gate) release() []jetstream.Msg {
	held := g.held
	g.held = nil
	seq := func(m jetstream.Msg) uint64 {
		if md, err := m.Metadata(); err == nil {
			return md.Sequence.Stream
		}
		return 0
	}
	sort.SliceStable(held, func(i, j int) bool { return seq(held[i]) < seq(held[j]) })
	return held
}

// inHand counts the stream messages this holder has unacked: queued,
// held back or stalled. A message redelivered while we hold it counts once,
// as the consumer's ack-pending count does.
func inHand(q *queue, held, stalled []jetstream.Msg) int {
	seqs := map[uint64]bool{}
	add := func(ms []jetstream.Msg) {
		for _, m := range ms {
			if md, err := m.Metadata(); err == nil {
				seqs[md.Sequence.Stream] = true
			}
		}
	}
	for _, it := range q.items {
		add(it.msgs)
	}
	add(held)
	add(stalled)
	return len(seqs)
}

// deliveryGap reports how many deliveries of the consumer came between the
// last one received and m without reaching us, and records m's. A sequence
// that goes back (a consumer made again, a new leader on older state)
// starts the count over.
func deliveryGap(m jetstream.Msg, last *uint64) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	seq, prev := md.Sequence.Consumer, *last
	*last = seq
	if prev == 0 || seq <= prev+1 {
		return 0
	}
	return seq - prev - 1
}

// fetch hands messages to the loop until stop; then hands back (nak) what
// the iterator still buffers.
func (w *worker) fetch(it jetstream.MessagesContext, in chan<- jetstream.Msg, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
			w.log.Warn("fetch", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if w.o.lose != nil && w.o.lose(m) {
			continue
		}
		select {
		case in <- m:
		case <-stop:
			_ = m.Nak()
		}
	}
}

// stallRetry is how often a message that could not be decided is tried again.
var stallRetry = time.Second

// accept decides what one stream message becomes: nothing (acked at once),
// a new alert, or one more entry of an open digest. It reports false when
// the message cannot be decided now (the delivery marks cannot be read):
// the caller keeps it, and everything after it, to try again in order.
func (w *worker) accept(ctx context.Context, q *queue, m jetstream.Msg) bool {
	if events.IsDeadLetter(m.Subject()) {
		_ = m.Ack()
		return true
	}
	e, d, err := events.Decode(m.Data())
	if err != nil {
		w.deadLetter(ctx, m, err.Error())
		return true
	}
	if pc, ok := d.(*events.PlanCompleted); ok {
		// The planner publishes a plan's findings before its plan.completed:
		// the plan's digests are complete.
		q.closeGroup(groupKey("detected", pc.WS, pc.PlanID))
		q.closeGroup(groupKey("resolved", pc.WS, pc.PlanID))
		_ = m.Ack()
		return true
	}
	match := w.routes.Match(w.cfg.Name, route.AttrsOf(d))
	if match == route.None {
		_ = m.Ack()
		return true
	}
	retry := func(err error) bool {
		if errors.Is(err, jetstream.ErrInvalidKey) { // never readable: not worth holding the sink for
			w.deadLetter(ctx, m, err.Error())
			return true
		}
		if len(w.stalled) == 0 { // once per stall, not per retry
			w.log.Warn("cannot read delivery marks; holding this event and the ones after it, retrying in order", "id", e.ID(), "err", err)
		}
		return false
	}
	done, err := w.delivered(ctx, e.ID())
	if err != nil {
		return retry(err)
	}
	if done {
		w.log.Debug("already delivered", append(msgAttrs(m), "id", e.ID())...)
		_ = m.Ack()
		return true
	}
	dec, err := w.decide(ctx, e.ID(), d, match)
	if err != nil {
		return retry(err)
	}
	if dec.note == "" {
		w.log.Debug("nothing new to tell", append(msgAttrs(m), "id", e.ID(), "type", e.Type())...)
		_ = m.Ack()
		return true
	}
	body := m.Data()
	if redact(d) {
		if body, err = reencode(e, d); err != nil {
			w.deadLetter(ctx, m, err.Error())
			return true
		}
	}
	entry := sink.Entry{Note: dec.note, Event: &e, Body: body, Data: d}
	var key string
	switch d := d.(type) {
	case *events.DriftDetected:
		entry.Finding = &d.Finding
		key = groupKey("detected", d.Finding.Workspace, d.PlanID)
	case *events.DriftResolved:
		entry.Finding = &d.Finding
		key = groupKey("resolved", d.Finding.Workspace, d.PlanID)
	}
	now := w.now()
	it := q.openGroup(key, now)
	if key == "" || it == nil {
		it = &item{alert: &sink.Alert{ID: e.ID(), Workspace: d.Workspace()}, forType: e.Type(), group: key, deadline: now.Add(w.digest)}
		q.push(it)
	}
	if w.log.Enabled(ctx, slog.LevelDebug) {
		w.log.Debug("queued", append(msgAttrs(m), "id", e.ID(), "alert", it.alert.ID, "note", dec.note)...)
	}
	it.alert.Entries = append(it.alert.Entries, entry)
	it.msgs = append(it.msgs, m)
	it.marks = append(it.marks, dec.marks...)
	for _, mk := range dec.marks {
		w.pending[mk.key] = pendingMark{value: mk.value, item: it}
	}
	return true
}

// msgAttrs are a message's stream sequence and delivery count, for the
// debug log: what a run's stream dump is read against.
func msgAttrs(m jetstream.Msg) []any {
	md, err := m.Metadata()
	if err != nil {
		return nil
	}
	return []any{"seq", md.Sequence.Stream, "delivered", md.NumDelivered}
}

func groupKey(kind, ws, plan string) string { return kind + "\x00" + ws + "\x00" + plan }

func reencode(e cloudevents.Event, d events.Data) ([]byte, error) {
	c := e.Clone()
	if err := c.SetData(cloudevents.ApplicationJSON, d); err != nil {
		return nil, fmt.Errorf("re-encode redacted %s: %w", e.Type(), err)
	}
	return json.Marshal(c)
}

// deliver makes attempts until the sink accepts the alert, the error is
// permanent, the attempts run out, or ctx ends between attempts.
func (w *worker) deliver(ctx context.Context, it *item) sendResult {
	attrs := metric.WithAttributes(attribute.String("sink", w.cfg.Name))
	var r sendResult
	for {
		if err := w.limiter.Wait(ctx); err != nil {
			r.cancelled = true
			return r
		}
		r.attempts++
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timeout)
		err := w.cfg.Sink.Send(actx, it.alert)
		cancel()
		if err == nil {
			r.err, r.status = nil, 0
			return r
		}
		r.err = err
		w.metrics.attemptsFailed.Add(ctx, 1, attrs)
		wait := backoff(w.cfg.BackoffMin, w.cfg.BackoffMax, r.attempts)
		var de *sink.DeliveryError
		if errors.As(err, &de) {
			r.status = de.StatusCode
			if de.Permanent {
				return r
			}
			if de.RetryAfter > 0 {
				wait = min(de.RetryAfter, time.Hour)
			}
		}
		if r.attempts >= w.cfg.MaxAttempts {
			return r
		}
		w.log.Info("delivery failed; retrying", "alert", it.alert.ID, "attempt", r.attempts, "wait", wait.String(), "err", err.Error())
		if err := w.o.sleep(ctx, wait); err != nil {
			r.cancelled = true
			return r
		}
	}
}

// backoff is exponential from lo to hi with "equal jitter": half the step
// fixed, half random, so replicas and sinks do not retry in lockstep.
func backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// finish records the outcome: marks, receipt, acks.
func (w *worker) finish(ctx context.Context, q *queue, it *item, r sendResult) {
	if r.cancelled {
		return
	}
	attrs := metric.WithAttributes(attribute.String("sink", w.cfg.Name))
	failed := r.err != nil
	if failed {
		w.metrics.failed.Add(ctx, 1, attrs)
		w.log.Error("alert not delivered; giving up", "alert", it.alert.ID, "type", it.forType, "attempts", r.attempts, "err", r.err.Error())
	} else {
		w.writeMarks(ctx, it)
		w.metrics.delivered.Add(ctx, 1, attrs)
		w.log.Info("alert delivered", "alert", it.alert.ID, "type", it.forType, "entries", len(it.alert.Entries), "attempts", r.attempts)
	}
	for k, p := range w.pending {
		if p.item == it {
			delete(w.pending, k)
		}
	}
	for _, id := range it.reminder {
		delete(w.reminding, id)
	}
	w.receipt(ctx, it, r)
	for _, m := range it.msgs {
		if err := m.Ack(); err != nil {
			w.log.Warn("ack", "err", err)
		}
	}
	q.pop(it)
}

func (w *worker) receipt(ctx context.Context, it *item, r sendResult) {
	a := events.Alert{
		Sink: w.cfg.Name, EventID: it.alert.ID, ForType: it.forType, WS: it.alert.Workspace,
		FindingIDs: it.alert.FindingIDs(), Attempts: r.attempts, StatusCode: r.status, At: w.now().UTC(),
	}
	if r.err != nil {
		a.Error = r.err.Error()
	}
	pctx := context.WithoutCancel(ctx)
	if len(it.alert.Entries) > 0 && it.alert.Entries[0].Event != nil {
		pctx = events.TraceContext(pctx, *it.alert.Entries[0].Event) // the receipt continues the event's trace
	}
	pctx, cancel := context.WithTimeout(pctx, 10*time.Second)
	defer cancel()
	if _, err := w.pub.Publish(pctx, events.NewAlert(r.err != nil, a)); err != nil {
		w.log.Error("alert receipt not published", "alert", it.alert.ID, "err", err)
	}
}

// deadLetter parks a message this sink can never handle on the consumer's
// dead-letter subject, counted, as events.Consumer does.
func (w *worker) deadLetter(ctx context.Context, m jetstream.Msg, reason string) {
	events.DeadLetter(ctx, w.d.JS, w.durable, m, reason, w.log)
}

// enqueueReminders queues, per workspace, one reminder of the findings this
// sink was told about that are still open and were last announced at least
// the reminder interval ago.
func (w *worker) enqueueReminders(ctx context.Context, q *queue) {
	lister, err := w.d.Buckets.State.ListKeysFiltered(ctx, events.Key("notifier", w.cfg.Name, "f")+".>")
	if err != nil {
		w.log.Warn("reminders: list marks", "err", err)
		return
	}
	now := w.now()
	byWS := map[string][]findingMark{}
	for key := range lister.Keys() {
		if _, queued := w.pending[key]; queued {
			continue
		}
		var fm findingMark
		if _, ok, err := events.GetJSON(ctx, w.d.Buckets.State, key, &fm); err != nil || !ok {
			continue
		}
		if fm.State != events.StateOpen || now.Sub(fm.AlertedAt) < w.remind || w.reminding[fm.Finding.ID] {
			continue
		}
		// The planner's record wins when it says the finding is gone.
		var cur events.Finding
		if _, ok, err := events.GetJSON(ctx, w.d.Buckets.Findings, fm.Finding.ID, &cur); err == nil && ok && cur.State == events.StateResolved {
			continue
		}
		byWS[fm.Finding.Workspace] = append(byWS[fm.Finding.Workspace], fm)
	}
	wss := make([]string, 0, len(byWS))
	for ws := range byWS {
		wss = append(wss, ws)
	}
	sort.Strings(wss)
	for _, ws := range wss {
		fms := byWS[ws]
		it := &item{
			alert:   &sink.Alert{ID: fmt.Sprintf("reminder-%s-%d", ws, now.Unix()), Workspace: ws},
			forType: events.TypeDriftDetected,
		}
		for _, fm := range fms {
			f := fm.Finding
			it.alert.Entries = append(it.alert.Entries, sink.Entry{Note: sink.NoteReminder, Finding: &f})
			fm.AlertedAt = now
			it.marks = append(it.marks, markWrite{w.findingKey(f.ID), fm})
			it.reminder = append(it.reminder, f.ID)
			w.reminding[f.ID] = true
		}
		q.push(it)
	}
}
