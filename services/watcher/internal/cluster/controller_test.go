package cluster

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestLeaseName(t *testing.T) {
	for in, want := range map[string]string{
		"lab":                               "driftgate-watcher-lab",
		"Prod EU/1":                         "driftgate-watcher-prod-eu-1",
		"":                                  "driftgate-watcher-default",
		strings.Repeat("x", 80):             "driftgate-watcher-" + strings.Repeat("x", 45),
		"a" + strings.Repeat("-", 70) + "b": "driftgate-watcher-a",
	} {
		if got := LeaseName(in); got != want {
			t.Errorf("LeaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReachability(t *testing.T) {
	r := &reachability{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !r.wait(ctx) {
		t.Fatal("wait blocked while reachable")
	}
	down := r.downCh(ctx)
	r.set(true)
	select {
	case <-down:
	case <-time.After(5 * time.Second):
		t.Fatal("downCh not closed on an outage")
	}
	waited := make(chan bool)
	go func() { waited <- r.wait(ctx) }()
	select {
	case <-waited:
		t.Fatal("wait returned during an outage")
	case <-time.After(50 * time.Millisecond):
	}
	r.set(false)
	if !<-waited {
		t.Fatal("wait did not return true on recovery")
	}
	// A downCh made while reachable ends with its context.
	cctx, ccancel := context.WithCancel(ctx)
	d2 := r.downCh(cctx)
	ccancel()
	select {
	case <-d2:
		t.Fatal("downCh closed without an outage")
	case <-time.After(50 * time.Millisecond):
	}
}
