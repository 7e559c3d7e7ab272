package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/driftgate/driftgate/pkg/events"
)

// arrivals is a webhook receiver that notes when each event id arrived.
type arrivals struct {
	mu   sync.Mutex
	at   map[string]time.Time
	n    int
	wake chan struct{}
}

func newArrivals(b *testing.B) (*arrivals, string) {
	a := &arrivals{at: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var es []cloudevents.Event
		dec := json.NewDecoder(r.Body)
		if r.Header.Get("Content-Type") == "application/cloudevents-batch+json" {
			_ = dec.Decode(&es)
		} else {
			var e cloudevents.Event
			_ = dec.Decode(&e)
			es = append(es, e)
		}
		a.mu.Lock()
		for _, e := range es {
			a.at[e.ID()] = now
		}
		a.n += len(es)
		a.mu.Unlock()
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}))
	b.Cleanup(srv.Close)
	return a, srv.URL
}

func (a *arrivals) waitFor(id string) time.Time {
	for {
		a.mu.Lock()
		t, ok := a.at[id]
		a.mu.Unlock()
		if ok {
			return t
		}
		select {
		case <-a.wake:
		case <-time.After(10 * time.Second):
			panic("event " + id + " never arrived")
		}
	}
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkDetectedToWebhook measures the time from a drift.detected being in
// the stream (Publish returned) to the webhook receiver having it, with the
// default digest window: the plan's plan.completed, published right after as
// the planner does, closes the digest.
func BenchmarkDetectedToWebhook(b *testing.B) {
	w := newWorld(b)
	w.quiet = true
	rec, url := newArrivals(b)
	w.vars["HOOK_SECRET"] = secret
	w.start(fmt.Sprintf(`
notify:
  sinks: [{name: hook, webhook: {url: %q, secret_env: HOOK_SECRET}}]
`, url))
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := finding("marketplace", fmt.Sprintf("kubernetes_deployment.app%d", i), events.ClassChanged, events.RiskLow)
		plan := fmt.Sprintf("p%d", i)
		e, err := w.pub.Publish(ctx, detected(f, plan))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := w.pub.Publish(ctx, planDone("marketplace", plan)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, rec.waitFor(e.ID()).Sub(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkImportToWebhook is the same for an event that is never digested.
func BenchmarkImportToWebhook(b *testing.B) {
	w := newWorld(b)
	w.quiet = true
	rec, url := newArrivals(b)
	w.vars["HOOK_SECRET"] = secret
	w.start(fmt.Sprintf(`
notify:
  sinks: [{name: hook, webhook: {url: %q, secret_env: HOOK_SECRET}}]
`, url))
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e, err := w.pub.Publish(ctx, importEvent(events.ImportFailed, fmt.Sprintf("r%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		lat = append(lat, rec.waitFor(e.ID()).Sub(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkAlertsPerSecond measures sustained delivery to one fast sink:
// b.N import events are in the stream, the clock runs until the receiver has
// them all (each one: dedup check, signed POST, marks, receipt, ack).
func BenchmarkAlertsPerSecond(b *testing.B) {
	w := newWorld(b)
	w.quiet = true
	rec, url := newArrivals(b)
	w.vars["HOOK_SECRET"] = secret
	w.start(fmt.Sprintf(`
notify:
  sinks: [{name: hook, webhook: {url: %q, secret_env: HOOK_SECRET}}]
`, url))
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := w.pub.PublishAsync(ctx, importEvent(events.ImportSucceeded, fmt.Sprintf("r%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	<-w.env.JS.PublishAsyncComplete()
	for rec.count() < b.N {
		select {
		case <-rec.wake:
		case <-time.After(30 * time.Second):
			b.Fatalf("%d of %d alerts arrived", rec.count(), b.N)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "alerts/s")
}
