package planner

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitQueued waits until n acquirers are queued (a fact the queue reports).
func waitQueued(t *testing.T, p *planSlots, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.queued() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, want %d", p.queued(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPlanSlotsFirstComeFirstServed: with one slot, a holder that gives
// its slot back and asks again at once queues behind everyone already
// waiting; nobody holds more than the slots there are.
func TestPlanSlotsFirstComeFirstServed(t *testing.T) {
	p := newPlanSlots(1)
	ctx := context.Background()
	busy, _, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 8)
	held := make(chan func(), 8)
	for i, name := range []string{"b", "c", "d"} {
		go func() {
			release, _, err := p.acquire(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			order <- name
			held <- release
		}()
		waitQueued(t, p, i+1)
	}
	// The busy workspace ends its plan and asks again at once.
	busy()
	again := make(chan func(), 1)
	go func() {
		release, _, err := p.acquire(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		order <- "a"
		again <- release
	}()
	var got []string
	for len(got) < 4 {
		select {
		case name := <-order:
			got = append(got, name)
			if name != "a" {
				(<-held)()
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stuck after %v", got)
		}
	}
	if want := []string{"b", "c", "d", "a"}; !equal(got, want) {
		t.Fatalf("slots granted in the order %v, want %v", got, want)
	}
	(<-again)()
	if p.free != 1 || p.queued() != 0 {
		t.Fatalf("after every release: free %d, queued %d", p.free, p.queued())
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPlanSlotsBound: n slots are granted at once, the next waits; a
// waiter whose context ends leaves the queue without taking a slot.
func TestPlanSlotsBound(t *testing.T) {
	p := newPlanSlots(2)
	ctx := context.Background()
	r1, w1, err := p.acquire(ctx)
	if err != nil || w1 != 0 {
		t.Fatal(err, w1)
	}
	r2, _, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := p.acquire(cctx)
		done <- err
	}()
	waitQueued(t, p, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled wait returned %v", err)
	}
	if p.queued() != 0 {
		t.Fatal("a cancelled waiter stayed in the queue")
	}
	r1()
	r1() // a second call is a no-op
	r3, _, err := p.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2()
	r3()
	if p.free != 2 {
		t.Fatalf("free %d after every release, want 2", p.free)
	}
}
