package dispatch_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// stamps notes when each accepted request reached the server.
type stamps struct {
	mu sync.Mutex
	at []time.Time
}

func (s *stamps) respond(_ int, _ http.ResponseWriter, _ *http.Request) bool {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	return true
}

func (s *stamps) all() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.at)
}

// TestPerSinkRateLimit: a sink limited to 60 alerts a minute (a token bucket
// with a burst of 6) receives them no faster than that, in order and once,
// while an unlimited sink of the same notifier gets all of them without
// waiting for it.
//
// The bound checked is one the limiter guarantees whatever the machine's
// load: whatever it held before, the bucket holds at most a burst when the
// first request leaves, so the k-th request (1-based) cannot reach the server
// before (k-burst)/rate after the first one, less the first request's own
// transit time (slack). A slow machine only spreads arrivals further apart.
func TestPerSinkRateLimit(t *testing.T) {
	const (
		n       = 16
		perMin  = 60
		burst   = perMin / 10 // the limiter's burst: a tenth of a minute's worth
		perSec  = float64(perMin) / 60
		slack   = 750 * time.Millisecond
		minSpan = time.Duration(float64(n-burst) / perSec * float64(time.Second))
	)
	w := newWorld(t)
	var slowAt, fastAt stamps
	slow := newReceiver(t, verifyWebhook([]byte(secret)))
	slow.setRespond(slowAt.respond)
	fast := newReceiver(t, verifyWebhook([]byte(secret)))
	fast.setRespond(fastAt.respond)
	w.vars["HOOK_SECRET"] = secret
	// No `fast` knobs here: they would lift the limit under test.
	w.start(fmt.Sprintf(`
notify:
  sinks:
    - {name: slow, webhook: {url: %q, secret_env: HOOK_SECRET}, rate_per_minute: %d}
    - {name: fast, webhook: {url: %q, secret_env: HOOK_SECRET}}
  routes:
    - {match: {types: ["import.*"]}, sinks: [slow, fast]}
`, slow.srv.URL, perMin, fast.srv.URL))

	var want []string
	for i := range n {
		id := fmt.Sprintf("r%02d", i)
		want = append(want, id)
		w.publish(importEvent(events.ImportSucceeded, id))
	}

	eventually(t, "the unlimited sink gets every alert", func() bool { return len(fast.accepted()) == n })
	deadline := time.Now().Add(minSpan + 2*time.Minute)
	for len(slow.accepted()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the limited sink got %d of %d alerts", len(slow.accepted()), n)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for name, rc := range map[string]*receiver{"slow": slow, "fast": fast} {
		if got := requestIDs(t, rc.accepted()); !slices.Equal(got, want) {
			t.Errorf("%s sink got %v, want each alert once in order", name, got)
		}
	}
	at, fastDone := slowAt.all(), fastAt.all()[n-1]
	for k := burst + 1; k <= n; k++ {
		gap := at[k-1].Sub(at[0])
		floor := time.Duration(float64(k-burst) / perSec * float64(time.Second))
		if gap < floor-slack {
			t.Errorf("alert %d reached the limited sink %v after the first; the limit allows no sooner than %v", k, gap, floor)
		}
	}
	if !fastDone.Before(at[n-1]) {
		t.Errorf("the unlimited sink finished at %v, after the limited sink's last alert (%v): it was held up",
			fastDone.Format(time.StampMilli), at[n-1].Format(time.StampMilli))
	}
	span := at[n-1].Sub(at[0])
	t.Logf("limited sink: %d alerts in %v (%.2f/s after a burst of %d; limit %.2f/s, floor %v); unlimited sink: all %d within %v of the limited sink's first",
		n, span.Round(time.Millisecond), float64(n-burst)/(at[n-1].Sub(at[burst-1]).Seconds()), burst, perSec, minSpan, n,
		fastDone.Sub(at[0]).Round(time.Millisecond))
	eventually(t, "receipts", func() bool { return len(receipts(w, false)) == 2*n })
}
