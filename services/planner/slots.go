package planner

import (
	"context"
	"sync"
	"time"
)

// planSlots bounds the tool runs (init, plan, show) of one replica across
// all its workspaces: at most n at once (planner.max_concurrent_plans).
// Slots are granted first come, first served. A workspace asks for a slot
// from its own loop goroutine and gives it back before it asks again, so
// it holds at most one; a workspace with a constant stream of changes,
// which asks again as soon as its plan ends, queues behind every workspace
// that was already waiting, and cannot starve them.
//
// A workspace waits for a slot before it takes its lease, not while holding
// it: a replica whose slots are all busy leaves the workspace's lease free
// for a replica with a slot to spare. Its pending changes are in the state
// bucket meanwhile and keep coalescing; the plan that gets the slot covers
// all of them.
type planSlots struct {
	mu      sync.Mutex
	free    int
	waiting []*slotWaiter // FIFO
}

type slotWaiter struct {
	ready   chan struct{} // closed when the slot is granted
	granted bool          // guarded by planSlots.mu
}

func newPlanSlots(n int) *planSlots { return &planSlots{free: max(n, 1)} }

// acquire waits for a slot, in turn, until ctx ends. It returns the
// function that gives the slot back (call it exactly once) and how long it
// waited.
func (p *planSlots) acquire(ctx context.Context) (release func(), waited time.Duration, err error) {
	start := time.Now()
	p.mu.Lock()
	if p.free > 0 && len(p.waiting) == 0 {
		p.free--
		p.mu.Unlock()
		return p.releaseOnce(), 0, nil
	}
	sw := &slotWaiter{ready: make(chan struct{})}
	p.waiting = append(p.waiting, sw)
	p.mu.Unlock()
	select {
	case <-sw.ready:
		return p.releaseOnce(), time.Since(start), nil
	case <-ctx.Done():
		p.mu.Lock()
		if sw.granted {
			// Granted as ctx ended: hand it on.
			p.mu.Unlock()
			p.release()
		} else {
			for i, x := range p.waiting {
				if x == sw {
					p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
					break
				}
			}
			p.mu.Unlock()
		}
		return nil, time.Since(start), ctx.Err()
	}
}

func (p *planSlots) releaseOnce() func() {
	var once sync.Once
	return func() { once.Do(p.release) }
}

// release passes the slot to the first waiter, or frees it.
func (p *planSlots) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiting) > 0 {
		sw := p.waiting[0]
		p.waiting[0] = nil
		p.waiting = p.waiting[1:]
		sw.granted = true
		close(sw.ready)
		return
	}
	p.free++
}

// queued is the number of workspaces waiting for a slot.
func (p *planSlots) queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// acquireSlot waits for one of the replica's plan slots for w.
func (s *Service) acquireSlot(ctx context.Context, w *workspace) (release func(), waited time.Duration, err error) {
	release, waited, err = s.slots.acquire(ctx)
	if err == nil && waited > 0 {
		w.log.Debug("waited for a plan slot", "waited", waited.Round(time.Millisecond), "still_queued", s.slots.queued())
	}
	return release, waited, err
}

// fullPlanDone reports whether the full plan a cycle was started for is no
// longer due: another replica ran it while this one waited for a slot (its
// time reaches this replica through the pending watch).
func (s *Service) fullPlanDone(w *workspace, trigger string) bool {
	if trigger != TriggerStartup && trigger != TriggerInterval {
		return false
	}
	s.mu.Lock()
	last := w.lastFull
	s.mu.Unlock()
	return !last.IsZero() && time.Now().Before(last.Add(w.interval))
}
