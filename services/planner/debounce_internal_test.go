package planner

import (
	"testing"
	"time"
)

// nextDue's debounce: the first change in a quiet workspace plans at once;
// a change soon after one a plan covered waits until the changes settle,
// and never longer than max_wait after the first.
func TestNextDueLeadingEdge(t *testing.T) {
	const debounce, maxWait = 150 * time.Millisecond, 10 * time.Second
	s := &Service{debounce: debounce, maxWait: maxWait, churnWindow: time.Hour}
	now := time.Now()
	ws := func(lastChange time.Time, first, last time.Time) *workspace {
		w := &workspace{interval: time.Hour, lastChange: lastChange, nextChurnGC: now.Add(time.Hour),
			pending: map[string]*pendingEntry{}}
		s.mu.Lock()
		w.lastFull = now // no full plan due
		s.mu.Unlock()
		w.pending["k"] = &pendingEntry{key: "k", rec: pendingRecord{First: first, Last: last, Count: 1}}
		return w
	}
	for _, c := range []struct {
		name              string
		lastChange        time.Time
		first, last, want time.Time
	}{
		{"quiet: never planned", time.Time{}, now, now, now},
		{"quiet: the last change planned long before", now.Add(-time.Minute), now, now.Add(50 * time.Millisecond), now},
		{"a change planned just before: trailing edge", now.Add(-50 * time.Millisecond), now, now.Add(20 * time.Millisecond), now.Add(170 * time.Millisecond)},
		{"a burst that goes on: max_wait", now.Add(-50 * time.Millisecond), now, now.Add(maxWait), now.Add(maxWait)},
	} {
		due, trigger := s.nextDue(ws(c.lastChange, c.first, c.last))
		if trigger != TriggerChange || !due.Equal(c.want) {
			t.Errorf("%s: due %s (%s), want %s", c.name, due.Sub(now), trigger, c.want.Sub(now))
		}
	}
}
