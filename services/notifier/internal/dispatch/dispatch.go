// Package dispatch is the notifier's engine: one durable JetStream consumer
// per sink, so a sink that is down holds up nobody else and gets its backlog
// in order once it is back; per sink one ordered queue of alerts (single
// events and per-plan digests) delivered one at a time with retries, a rate
// limit, dedup marks in the State bucket and alert receipts in the stream.
// A stream message is acked only once the alert it belongs to was accepted
// by the sink (or failed for good, which the alert.failed receipt records).
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier/internal/route"
	"github.com/driftgate/driftgate/services/notifier/internal/sink"
)

// MaxDigest caps one digest; more findings make several.
const MaxDigest = 500

// SinkConfig is one sink with its delivery policy, as config loading
// defaulted it.
type SinkConfig struct {
	Name        string
	Sink        sink.Sink
	Reminders   bool // people read it: reminders of open findings go there
	RatePerMin  int  // 0: unlimited
	MaxAttempts int
	Timeout     time.Duration
	BackoffMin  time.Duration
	BackoffMax  time.Duration
}

type options struct {
	leaseTTL   time.Duration
	ackWait    time.Duration
	maxPending int
	sleep      func(ctx context.Context, d time.Duration) error
	meter      metric.MeterProvider
	now        func() time.Time
	readFault  func(key string) error
	writeFault func(key string) error
	lose       func(m jetstream.Msg) bool
}

// Option tunes the engine; the defaults suit production.
type Option func(*options)

// WithLeaseTTL sets how long a sink's lease lives without renewal (default
// 15s): how soon another replica takes over a crashed one's sinks.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// WithAckWait sets the consumers' ack wait (default 30s); held messages are
// marked in progress every third of it.
func WithAckWait(d time.Duration) Option { return func(o *options) { o.ackWait = d } }

// WithMaxPending caps the messages a sink holds unacked (default 1024).
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithSleep replaces the wait between attempts (tests record the waits
// instead of sleeping them).
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = f }
}

// WithStateReadFault makes a read of the delivery mark key fail with the
// error f returns (nil: read it). Tests use it to fail one read of the
// real bucket, as a lost node would.
func WithStateReadFault(f func(key string) error) Option {
	return func(o *options) { o.readFault = f }
}

// WithStateWriteFault makes a write of a delivery mark fail with the error
// f returns (nil: write it). Tests use it to fail writes of the real
// bucket, as a bucket without quorum does.
func WithStateWriteFault(f func(key string) error) Option {
	return func(o *options) { o.writeFault = f }
}

// WithDeliveryLoss drops the deliveries f picks before the worker sees
// them, as a connection lost mid-delivery does: the message stays out
// unacked on the server until its ack wait runs out. Tests use it to lose
// one delivery of the real consumer.
func WithDeliveryLoss(f func(m jetstream.Msg) bool) Option {
	return func(o *options) { o.lose = f }
}

// WithMeterProvider sets where the metrics go (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(o *options) { o.meter = mp } }

// Notifier runs one worker per sink.
type Notifier struct {
	d       service.Deps
	routes  *route.Table
	workers []*worker
	o       options
}

// New builds the notifier from the config's notify section, reading each
// sink's secret through d.Getenv. It returns nil when no sink has a route.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Notifier, error) {
	n := cfg.Notify
	if len(n.Sinks) == 0 {
		return nil, nil
	}
	o := options{leaseTTL: 15 * time.Second, ackWait: 30 * time.Second, maxPending: 1024, sleep: sleepCtx, now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.meter == nil {
		o.meter = otel.GetMeterProvider()
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Getenv == nil {
		return nil, errors.New("notifier: no environment reader (Deps.Getenv)")
	}
	routes, err := route.Compile(n)
	if err != nil {
		return nil, fmt.Errorf("notifier: %w", err)
	}
	m, err := newMetrics(o.meter)
	if err != nil {
		return nil, fmt.Errorf("notifier: metrics: %w", err)
	}
	client := sink.NewHTTPClient()
	nt := &Notifier{d: d, routes: routes, o: o}
	pub := events.NewPublisher(d.JS, d.Source("notifier"))
	for i, s := range n.Sinks {
		sc, err := sinkConfig(i, s, d.Getenv, client)
		if err != nil {
			return nil, fmt.Errorf("notifier: %w", err)
		}
		if len(routes.Types(s.Name)) == 0 {
			d.Log.Warn("no route sends anything to this sink", "sink", s.Name)
			continue
		}
		nt.workers = append(nt.workers, &worker{
			cfg: sc, d: d, o: o, routes: routes, pub: pub, metrics: m,
			digest:   n.DigestWindow.Duration,
			remind:   n.ReminderInterval.Duration,
			durable:  "notifier-" + s.Name,
			subjects: routes.Subjects(s.Name),
			log:      d.Log.With("sink", s.Name),
			now:      o.now,
		})
	}
	if len(nt.workers) == 0 {
		return nil, nil
	}
	if d.Health != nil {
		d.Health.Register("notifier") // not ready until Run created the consumers
	}
	return nt, nil
}

func sinkConfig(i int, s config.Sink, getenv func(string) string, hc *http.Client) (SinkConfig, error) {
	p := fmt.Sprintf("notify.sinks[%d] (%s)", i, s.Name)
	sc := SinkConfig{
		Name: s.Name, RatePerMin: s.RatePerMin,
		MaxAttempts: s.MaxAttempts, Timeout: s.Timeout.Duration,
		BackoffMin: s.BackoffMin.Duration, BackoffMax: s.BackoffMax.Duration,
	}
	switch {
	case s.Slack != nil:
		u := getenv(s.Slack.WebhookURLEnv)
		if u == "" {
			return sc, fmt.Errorf("%s: environment variable %s is empty; it must hold the Slack incoming webhook URL", p, s.Slack.WebhookURLEnv)
		}
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			// The value is a secret: say what is wrong, never what it is.
			return sc, fmt.Errorf("%s: environment variable %s does not hold an http(s) URL", p, s.Slack.WebhookURLEnv)
		}
		sc.Sink, sc.Reminders = sink.NewSlack(u, hc), true
	case s.Webhook != nil:
		secret := getenv(s.Webhook.SecretEnv)
		if secret == "" {
			return sc, fmt.Errorf("%s: environment variable %s is empty; it must hold the webhook signing secret", p, s.Webhook.SecretEnv)
		}
		sc.Sink = sink.NewWebhook(s.Webhook.URL, []byte(secret), hc)
	default:
		return sc, fmt.Errorf("%s: set exactly one of slack and webhook", p)
	}
	return sc, nil
}

// Run creates the sinks' consumers, reports ready, and delivers until ctx
// ends; then every held message is handed back (nak) for the next run.
func (n *Notifier) Run(ctx context.Context) error {
	for _, w := range n.workers {
		if _, err := w.ensureConsumer(ctx); err != nil {
			if n.d.Health != nil {
				n.d.Health.Set("notifier", err)
			}
			return err
		}
	}
	if n.d.Health != nil {
		n.d.Health.Set("notifier", nil)
	}
	n.d.Log.Info("notifier running", "sinks", len(n.workers))
	g, gctx := errgroup.WithContext(ctx)
	for _, w := range n.workers {
		g.Go(func() error { return w.run(gctx) })
	}
	return g.Wait()
}

func (w *worker) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c, err := w.d.JS.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
		Durable:        w.durable,
		Description:    "driftgate notifier: alerts to sink " + w.cfg.Name,
		FilterSubjects: w.subjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckWait:        w.o.ackWait,
		MaxAckPending:  w.o.maxPending,
		// Unlimited: a message is redelivered only when a notifier stopped
		// or crashed while holding it; retries happen in process.
		MaxDeliver: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("notifier: consumer %s: %w", w.durable, err)
	}
	return c, nil
}

// run serves the sink while holding its lease, so one replica at a time
// delivers to a sink, in order.
func (w *worker) run(ctx context.Context) error {
	name := "notifier/sink/" + w.cfg.Name
	for ctx.Err() == nil {
		err := events.WithLease(ctx, w.d.Buckets.Leases, name, w.d.Instance, w.o.leaseTTL, w.serve)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, events.ErrLeaseHeld):
			w.log.Debug("another replica delivers to this sink", "err", err)
			_ = sleepCtx(ctx, w.o.leaseTTL/3)
		case err != nil:
			w.log.Warn("sink worker stopped; restarting", "err", err)
			_ = sleepCtx(ctx, time.Second)
		default:
			_ = sleepCtx(ctx, w.o.leaseTTL/3) // lease lost: let the new holder go first
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type metrics struct {
	delivered, failed, attemptsFailed metric.Int64Counter
}

func newMetrics(mp metric.MeterProvider) (*metrics, error) {
	m := mp.Meter("github.com/driftgate/driftgate/services/notifier")
	var mt metrics
	var err error
	if mt.delivered, err = m.Int64Counter("driftgate_notifier_alerts_delivered_total",
		metric.WithDescription("alerts a sink accepted")); err != nil {
		return nil, err
	}
	if mt.failed, err = m.Int64Counter("driftgate_notifier_alerts_failed_total",
		metric.WithDescription("alerts given up on after the attempt limit or a permanent error (alert.failed)")); err != nil {
		return nil, err
	}
	if mt.attemptsFailed, err = m.Int64Counter("driftgate_notifier_attempts_failed_total",
		metric.WithDescription("delivery attempts that failed and were retried or given up")); err != nil {
		return nil, err
	}
	return &mt, nil
}
