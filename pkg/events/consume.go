package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Result is a handler's decision about one message.
type Result struct {
	action action
	delay  time.Duration
	reason string
}

type action int

const (
	actAck action = iota
	actNak
	actTerm
)

// Ack: the event is handled (or deliberately skipped).
func Ack() Result { return Result{action: actAck} }

// Nak: try again after delay (growing with each attempt, NakBackoff); after
// MaxDeliver attempts the event is dead-lettered with reason.
func Nak(delay time.Duration, reason string) Result {
	return Result{action: actNak, delay: delay, reason: reason}
}

// MaxNakDelay caps the growing delay between a handler's retries.
const MaxNakDelay = time.Minute

// NakBackoff is the delay before attempt+1 of an event its handler put back
// after attempt: the handler's delay, doubled for each attempt before, up to
// MaxNakDelay. A handler puts an event back when NATS itself cannot take a
// write (a stream without quorum while nodes restart): retried at a fixed
// second, ten attempts were spent in ten seconds and the event was
// dead-lettered, lost to the pipeline, while the cluster healed (the fault
// suite, test/chaos); doubled, ten attempts of a 1 s delay span four
// minutes.
func NakBackoff(delay time.Duration, attempt int) time.Duration {
	for i := 1; i < attempt && delay < MaxNakDelay; i++ {
		delay *= 2
	}
	return min(delay, MaxNakDelay)
}

// Term: the event can never be handled; it is dead-lettered with reason.
func Term(reason string) Result { return Result{action: actTerm, reason: reason} }

// Handler handles one decoded, validated event.
type Handler func(ctx context.Context, e cloudevents.Event, d Data) Result

// ConsumerConfig names a durable pull consumer shared by a service's replicas.
type ConsumerConfig struct {
	Durable       string   // e.g. "planner"; replicas share it
	Subjects      []string // filter subjects; default: every event
	MaxDeliver    int      // attempts before dead-lettering; default 5
	AckWait       time.Duration
	MaxAckPending int
	// DeliverNew starts a new consumer at the end of the stream instead of
	// its beginning (the notifier must not alert on history).
	DeliverNew bool
}

// EventSubjects are the filter subjects of every event type of the
// contract: the whole stream except the dead letters.
func EventSubjects() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range knownTypes() {
		if s := TypeSubject(t) + ".>"; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// DeadLetterSubject is where a consumer's poison messages go.
func DeadLetterSubject(durable string) string {
	return DeadLetterRoot + "." + EscapeToken(durable)
}

// Consumer runs a durable pull consumer until its context ends.
type Consumer struct {
	js  jetstream.JetStream
	cfg ConsumerConfig
	h   Handler
	log *slog.Logger
}

// NewConsumer validates cfg and returns a consumer; Run starts it.
func NewConsumer(js jetstream.JetStream, cfg ConsumerConfig, h Handler, log *slog.Logger) (*Consumer, error) {
	if cfg.Durable == "" {
		return nil, errors.New("consumer: durable name is empty")
	}
	if cfg.MaxDeliver == 0 {
		cfg.MaxDeliver = 5
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if len(cfg.Subjects) == 0 {
		cfg.Subjects = EventSubjects()
	}
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{js: js, cfg: cfg, h: h, log: log.With("consumer", cfg.Durable)}, nil
}

// Run consumes until ctx ends, then drains: in-flight messages finish before
// it returns.
func (c *Consumer) Run(ctx context.Context) error {
	policy := jetstream.DeliverAllPolicy
	if c.cfg.DeliverNew {
		policy = jetstream.DeliverNewPolicy
	}
	cons, err := c.js.CreateOrUpdateConsumer(ctx, StreamName, jetstream.ConsumerConfig{
		Durable:        c.cfg.Durable,
		FilterSubjects: c.cfg.Subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  policy,
		// One more than ours: the extra delivery is where we dead-letter a
		// message whose handler never got to answer (crash, timeout).
		MaxDeliver:    c.cfg.MaxDeliver + 1,
		AckWait:       c.cfg.AckWait,
		MaxAckPending: c.cfg.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: create: %w", c.cfg.Durable, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { c.handle(ctx, m) },
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrNoHeartbeat) || ctx.Err() == nil {
				c.log.Warn("consume", "err", err)
			}
		}))
	if err != nil {
		return fmt.Errorf("consumer %s: consume: %w", c.cfg.Durable, err)
	}
	<-ctx.Done()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(c.cfg.AckWait):
		cc.Stop()
	}
	return nil
}

func (c *Consumer) handle(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		c.log.Error("message metadata", "err", err)
		_ = m.Term()
		return
	}
	if IsDeadLetter(m.Subject()) {
		_ = m.Ack()
		return
	}
	attempts := int(md.NumDelivered)
	if attempts > c.cfg.MaxDeliver {
		c.deadLetter(ctx, m, md, fmt.Sprintf("not handled after %d deliveries", c.cfg.MaxDeliver))
		return
	}
	e, d, err := Decode(m.Data())
	if err != nil {
		c.deadLetter(ctx, m, md, err.Error())
		return
	}
	hctx := TraceContext(context.WithoutCancel(ctx), e)
	r := c.safeHandle(hctx, e, d)
	consumed.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", c.cfg.Durable)))
	switch r.action {
	case actAck:
		if err := m.Ack(); err != nil {
			c.log.Warn("ack", "id", e.ID(), "err", err)
		}
	case actNak:
		if attempts >= c.cfg.MaxDeliver {
			c.deadLetter(ctx, m, md, fmt.Sprintf("gave up after %d attempts: %s", attempts, r.reason))
			return
		}
		delay := NakBackoff(r.delay, attempts)
		c.log.Info("retry later", "id", e.ID(), "type", e.Type(), "attempt", attempts, "delay", delay, "reason", r.reason)
		_ = m.NakWithDelay(delay)
	case actTerm:
		c.deadLetter(ctx, m, md, r.reason)
	}
}

// safeHandle turns a handler panic into a Nak, so one bad event cannot take
// the service down.
func (c *Consumer) safeHandle(ctx context.Context, e cloudevents.Event, d Data) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panicked", "id", e.ID(), "type", e.Type(), "panic", fmt.Sprint(p))
			r = Nak(time.Second, fmt.Sprintf("handler panicked: %v", p))
		}
	}()
	return c.h(ctx, e, d)
}

func (c *Consumer) deadLetter(ctx context.Context, m jetstream.Msg, md *jetstream.MsgMetadata, reason string) {
	deadLetter(ctx, c.js, c.cfg.Durable, m, md, reason, c.log)
}

// DeadLetter parks m, a message consumer durable can never handle, on the
// consumer's dead-letter subject with reason, counts it in
// driftgate_events_dead_lettered_total{consumer} and terminates it. When
// the dead letter cannot be published, m is handed back (Nak) to come
// again. Consumer does this itself; DeadLetter is for a consumer that pulls
// messages on its own (the notifier holds them until a sink accepts).
func DeadLetter(ctx context.Context, js jetstream.JetStream, durable string, m jetstream.Msg, reason string, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	md, err := m.Metadata()
	if err != nil {
		log.Error("message metadata", "err", err)
		_ = m.Term()
		return
	}
	deadLetter(ctx, js, durable, m, md, reason, log)
}

// IsDeadLetter says whether subject is a dead letter, which no consumer
// handles (a filter that reaches them would loop).
func IsDeadLetter(subject string) bool { return strings.HasPrefix(subject, DeadLetterRoot+".") }

func deadLetter(ctx context.Context, js jetstream.JetStream, durable string, m jetstream.Msg, md *jetstream.MsgMetadata, reason string, log *slog.Logger) {
	dl := nats.NewMsg(DeadLetterSubject(durable))
	dl.Data = m.Data()
	dl.Header.Set(HeaderReason, reason)
	dl.Header.Set(HeaderOrigSubj, m.Subject())
	dl.Header.Set(HeaderOrigSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	dl.Header.Set(HeaderConsumer, durable)
	id := fmt.Sprintf("dl-%s-%d", durable, md.Sequence.Stream)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(pctx, dl, jetstream.WithMsgID(id)); err != nil {
		// Not terminated: it comes back and we try to dead-letter it again.
		log.Error("dead-letter publish failed; message will be redelivered", "seq", md.Sequence.Stream, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("consumer", durable)))
	log.Warn("dead-lettered", "seq", md.Sequence.Stream, "subject", m.Subject(), "reason", reason)
	_ = m.TermWithReason(truncate(reason, 200))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
