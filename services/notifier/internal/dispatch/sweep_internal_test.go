package dispatch

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
)

func TestSweepEventMarksDeletesOnlyExpiredOnes(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	now := time.Now()
	w := &worker{cfg: SinkConfig{Name: "hook"}, d: service.Deps{Buckets: env.Buckets}, now: time.Now,
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	other := &worker{cfg: SinkConfig{Name: "other"}}
	put := func(key string, at time.Time) {
		if _, err := events.PutJSON(ctx, env.Buckets.State, key, eventMark{At: at}); err != nil {
			t.Fatal(err)
		}
	}
	put(w.evKey("old-1"), now.Add(-40*24*time.Hour))
	put(w.evKey("old-2"), now.Add(-31*24*time.Hour))
	put(w.evKey("new"), now.Add(-time.Hour))
	put(other.evKey("old-other-sink"), now.Add(-40*24*time.Hour))
	n, err := w.sweepEventMarks(ctx, now.Add(-EventMarkRetention))
	if err != nil || n != 2 {
		t.Fatalf("swept %d, %v; want 2", n, err)
	}
	for _, c := range []struct {
		id   string
		w    *worker
		want bool
	}{{"old-1", w, false}, {"old-2", w, false}, {"new", w, true}, {"old-other-sink", other, true}} {
		got, err := w.delivered(ctx, c.id)
		if c.w == other {
			_, err = env.Buckets.State.Get(ctx, other.evKey(c.id))
			got = err == nil
		}
		if got != c.want {
			t.Errorf("mark %s present = %v, want %v (%v)", c.id, got, c.want, err)
		}
	}
	if n, err := w.sweepEventMarks(ctx, now.Add(-EventMarkRetention)); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v", n, err)
	}
}

func TestBackoffGrowsWithJitterWithinBounds(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := 1; attempt <= 12; attempt++ {
		step := min(lo<<(attempt-1), hi)
		for range 50 {
			d := backoff(lo, hi, attempt)
			if d < step/2 || d > step {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, step/2, step)
			}
		}
	}
}
