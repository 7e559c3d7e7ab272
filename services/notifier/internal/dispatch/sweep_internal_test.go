package dispatch

import (
	"context"
	"io"
	"log/slog"
	"slices"
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

func TestFingerprintMatchesWhatThePlannerCallsMaterial(t *testing.T) {
	base := events.Finding{ID: "f", Risk: "low", RecommendedAction: "revert", Paths: []string{"b", "a"},
		Object:      events.ObjectRef{UID: "u", Namespace: "ns", Name: "n"},
		Attribution: []events.Attribution{{Manager: "kubectl", Operation: "Update"}}}
	same := base
	same.Paths = []string{"a", "b"}
	now := time.Now()
	same.Attribution = []events.Attribution{{Manager: "kubectl", Operation: "Update", Time: &now}}
	same.LastSeen = now
	if fingerprint(&base) != fingerprint(&same) {
		t.Error("path order, attribution time and last_seen are not material")
	}
	for name, mut := range map[string]func(*events.Finding){
		"risk":    func(f *events.Finding) { f.Risk = "high" },
		"action":  func(f *events.Finding) { f.RecommendedAction = "import" },
		"paths":   func(f *events.Finding) { f.Paths = append(f.Paths, "c") },
		"uid":     func(f *events.Finding) { f.Object.UID = "u2" },
		"manager": func(f *events.Finding) { f.Attribution = []events.Attribution{{Manager: "helm", Operation: "Update"}} },
	} {
		f := base
		f.Paths = slices.Clone(base.Paths)
		mut(&f)
		if fingerprint(&f) == fingerprint(&base) {
			t.Errorf("%s change is material", name)
		}
	}
}
