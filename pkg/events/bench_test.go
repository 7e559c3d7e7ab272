package events_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

// The stream is file-backed, as in production.

func BenchmarkPublishSync(b *testing.B) {
	env := eventstest.Start(b)
	pub := events.NewPublisher(env.JS, "bench")
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := pub.Publish(ctx, objectChanged(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acked/s")
}

func BenchmarkPublishAsync(b *testing.B) {
	env := eventstest.Start(b)
	pub := events.NewPublisher(env.JS, "bench")
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := pub.PublishAsync(ctx, objectChanged(i)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-env.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("acks did not arrive")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acked/s")
}

func BenchmarkConsume(b *testing.B) {
	env := eventstest.Start(b)
	pub := events.NewPublisher(env.JS, "bench")
	ctx := context.Background()
	for i := range b.N {
		if _, err := pub.PublishAsync(ctx, objectChanged(i)); err != nil {
			b.Fatal(err)
		}
	}
	<-env.JS.PublishAsyncComplete()
	var n atomic.Int64
	done := make(chan struct{})
	c, _ := events.NewConsumer(env.JS, events.ConsumerConfig{Durable: "bench", MaxAckPending: 10000},
		func(context.Context, cloudevents.Event, events.Data) events.Result {
			if n.Add(1) == int64(b.N) {
				close(done)
			}
			return events.Ack()
		}, nil)
	cctx, cancel := context.WithCancel(ctx)
	b.ResetTimer()
	stopped := make(chan struct{})
	go func() { _ = c.Run(cctx); close(stopped) }()
	<-done
	b.StopTimer()
	cancel()
	<-stopped
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "consumed/s")
}
