// Package eventstest starts a real in-process JetStream server for tests,
// records its stream, and waits for facts in it instead of sleeping.
package eventstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/natsembed"
)

// Env is a running JetStream server with the DRIFTGATE stream and buckets.
type Env struct {
	Server  *server.Server
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Buckets *events.Buckets
}

// Start starts a server on a free port with its store in t.TempDir and closes
// everything when the test ends.
func Start(t testing.TB) *Env {
	t.Helper()
	s, err := natsembed.Start(natsembed.Options{Listen: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := events.EnsureStream(ctx, js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	b, err := events.EnsureBuckets(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Server: s, Conn: nc, JS: js, Buckets: b}
}

// Connect opens another connection to the env's server (a second replica).
func (e *Env) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(e.Server.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// WaitConsumed waits until the durable consumer has acknowledged every
// message of the stream it was given: its handler is done with all of them.
func (e *Env) WaitConsumed(t testing.TB, durable string, timeout time.Duration) {
	t.Helper()
	WaitConsumed(t, e.JS, durable, timeout)
}

// WaitConsumed waits until the durable consumer on js's DRIFTGATE stream has
// acknowledged every message it was given: nothing is pending, waiting for an
// ack or being redelivered, so its handler is done with all of them.
func WaitConsumed(t testing.TB, js jetstream.JetStream, durable string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last *jetstream.ConsumerInfo
	for {
		c, err := js.Consumer(ctx, events.StreamName, durable)
		if err == nil {
			if last, err = c.Info(ctx); err == nil && last.NumPending == 0 && last.NumAckPending == 0 && last.NumRedelivered == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s did not catch up within %s: %+v (%v)", durable, timeout, last, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
