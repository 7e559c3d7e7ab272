package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Headers set on every stored event, so readers can filter without parsing.
const (
	HeaderType      = "Ce-Type"
	HeaderWorkspace = "Driftgate-Workspace"
	HeaderReason    = "Driftgate-Reason"
	HeaderOrigSubj  = "Driftgate-Original-Subject"
	HeaderOrigSeq   = "Driftgate-Original-Sequence"
	HeaderConsumer  = "Driftgate-Consumer"
	ContentType     = "application/cloudevents+json"
)

var propagator = propagation.TraceContext{}

// Publisher publishes driftgate events to JetStream and waits for the ack.
type Publisher struct {
	js     jetstream.JetStream
	source string
}

// NewPublisher returns a publisher whose events name source (the service
// instance, e.g. "driftgate/watcher/host-1").
func NewPublisher(js jetstream.JetStream, source string) *Publisher {
	return &Publisher{js: js, source: source}
}

// Source is the CloudEvents source of this publisher's events.
func (p *Publisher) Source() string { return p.source }

// Publish wraps d in an event and stores it, returning once JetStream acked
// it. A fact already stored within the duplicate window is not stored again
// and is not an error.
func (p *Publisher) Publish(ctx context.Context, d Data) (cloudevents.Event, error) {
	e, msg, err := p.message(ctx, d)
	if err != nil {
		return e, err
	}
	deadline := time.Now().Add(PublishRetryFor)
	wait := 250 * time.Millisecond
	for {
		_, err = p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.ID()))
		if err == nil || !retryable(err) || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
	if err != nil {
		return e, fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	published.Add(ctx, 1)
	return e, nil
}

// PublishRetryFor is how long Publish keeps trying an event whose ack did
// not come (a stream leader lost, a node restarting: the stream elects a new
// leader within seconds). Retrying is safe: the event's ID is its
// Nats-Msg-Id, and the stream's duplicate window (2 minutes by default,
// longer than this) stores it once. The fault suite (test/chaos) found an
// importer's import.succeeded lost from the audit trail without it.
const PublishRetryFor = time.Minute

// retryable reports whether a publish may have failed for want of a stream
// leader: no ack within the timeout.
func retryable(err error) bool {
	return errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrTimeout)
}

// Last returns the data of the event last stored under d's subject (for an
// object.changed: the last change published about that object), nil when
// the stream holds none or the last message there is not an event. A
// watcher that died between publishing a change and recording it reads here
// what it told the pipeline last.
func (p *Publisher) Last(ctx context.Context, d Data) (Data, error) {
	s, err := p.js.Stream(ctx, StreamName)
	if err != nil {
		return nil, fmt.Errorf("last event on %s: %w", NATSSubject(d), err)
	}
	m, err := s.GetLastMsgForSubject(ctx, NATSSubject(d))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("last event on %s: %w", NATSSubject(d), err)
	}
	_, last, err := Decode(m.Data)
	if err != nil {
		// Not an event of ours (anyone allowed to publish into the subject
		// could store one): it tells nothing, and must not hold up the
		// caller.
		return nil, nil
	}
	return last, nil
}

// PublishAsync stores d without waiting; the future reports the ack. Use
// PublishAsyncComplete on the JetStream context to wait for all of them.
func (p *Publisher) PublishAsync(ctx context.Context, d Data) (jetstream.PubAckFuture, error) {
	e, msg, err := p.message(ctx, d)
	if err != nil {
		return nil, err
	}
	f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID()))
	if err != nil {
		return nil, fmt.Errorf("publish async %s %s: %w", e.Type(), e.ID(), err)
	}
	published.Add(ctx, 1)
	return f, nil
}

func (p *Publisher) message(ctx context.Context, d Data) (cloudevents.Event, *nats.Msg, error) {
	e, err := New(p.source, d)
	if err != nil {
		return e, nil, err
	}
	carrier := propagation.MapCarrier{}
	propagator.Inject(ctx, carrier)
	if tp := carrier.Get(ExtTraceparent); tp != "" {
		e.SetExtension(ExtTraceparent, tp)
	}
	// The envelope's own encoder: json.Marshal would validate and compact
	// its output a second time.
	body, err := e.MarshalJSON()
	if err != nil {
		return e, nil, fmt.Errorf("marshal %s: %w", e.Type(), err)
	}
	msg := nats.NewMsg(NATSSubject(d))
	msg.Data = body
	msg.Header.Set("Content-Type", ContentType)
	msg.Header.Set(HeaderType, e.Type())
	if ws := d.Workspace(); ws != "" {
		msg.Header.Set(HeaderWorkspace, ws)
	}
	return e, msg, nil
}

// TraceContext returns ctx carrying the trace of the event's traceparent
// extension, so a consumer's spans continue the publisher's trace.
func TraceContext(ctx context.Context, e cloudevents.Event) context.Context {
	tp, ok := e.Extensions()[ExtTraceparent].(string)
	if !ok || tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{ExtTraceparent: tp})
}

var (
	meter          = otel.Meter("github.com/driftgate/driftgate/pkg/events")
	published, _   = meter.Int64Counter("driftgate_events_published_total")
	consumed, _    = meter.Int64Counter("driftgate_events_consumed_total")
	deadLetters, _ = meter.Int64Counter("driftgate_events_dead_lettered_total")
)
