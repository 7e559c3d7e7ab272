package findings

import (
	"context"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/planner/classify"
)

func finding(addr, class string, paths ...string) events.Finding {
	return events.Finding{ID: events.FindingID("w", addr, class), Workspace: "w", Address: addr, Class: class, Risk: "low",
		Paths: paths, Attribution: []events.Attribution{}, State: events.StateOpen, RecommendedAction: classify.RecommendedAction(class)}
}

func TestReconcile(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	old := func(f events.Finding) events.Finding { f.FirstSeen, f.LastSeen = t0, t0; return f }
	resolved := old(finding("a.c", "changed", "spec.replicas"))
	resolved.State = events.StateResolved
	existing := []events.Finding{
		old(finding("a.same", "changed", "spec.replicas")),
		old(finding("a.moved", "changed", "spec.replicas")),
		old(finding("a.gone", "changed", "spec.replicas")),
		old(finding("a.untargeted", "deleted")),
		old(finding("a.churn", "churn", "metadata.labels.x")),
		resolved,
	}
	results := []classify.Result{
		{Finding: finding("a.same", "changed", "spec.replicas")},
		{Finding: finding("a.moved", "changed", "spec.replicas", "spec.template.spec.containers[0].image")},
		{Finding: finding("a.c", "changed", "spec.replicas")},
		{Finding: finding("a.new", "unimported")},
	}
	got := Reconcile(existing, results, Scope{Addresses: []string{"a.same", "a.moved", "a.gone", "a.c", "a.new", "a.churn"}}, t1)
	want := map[string]Outcome{"a.same": Seen, "a.moved": Updated, "a.c": Opened, "a.new": Opened, "a.gone": Resolved}
	if len(got) != len(want) {
		t.Fatalf("got %d changes: %+v", len(got), got)
	}
	for _, c := range got {
		if want[c.Finding.Address] != c.Outcome {
			t.Errorf("%s: %s, want %s", c.Finding.Address, c.Outcome, want[c.Finding.Address])
		}
		switch c.Outcome {
		case Seen, Updated:
			if !c.Finding.FirstSeen.Equal(t0) || !c.Finding.LastSeen.Equal(t1) {
				t.Errorf("%s keeps first_seen: %s %s", c.Finding.Address, c.Finding.FirstSeen, c.Finding.LastSeen)
			}
		case Opened:
			if !c.Finding.FirstSeen.Equal(t1) || c.Finding.State != "open" {
				t.Errorf("%s reopens at now: %s", c.Finding.Address, c.Finding.FirstSeen)
			}
		case Resolved:
			if c.Finding.State != "resolved" || !c.Finding.LastSeen.Equal(t0) {
				t.Errorf("resolved %+v", c.Finding)
			}
		}
	}
	// A full plan resolves every absent finding but churn.
	got = Reconcile(existing, nil, Scope{Full: true}, t1)
	if len(got) != 4 {
		t.Fatalf("full plan resolves 4 (not churn, not already resolved): %+v", got)
	}
}

func TestStore(t *testing.T) {
	env := eventstest.Start(t)
	s := Store{KV: env.Buckets.Findings}
	ctx := context.Background()
	a := finding("kubernetes_deployment.web", "changed", "spec.replicas")
	b := finding("kubernetes_config_map.cfg", "unimported")
	b.Workspace = "other"
	for _, f := range []events.Finding{a, b} {
		if err := s.Put(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.List(ctx, Filter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("list: %v %v", all, err)
	}
	only, _ := s.List(ctx, Filter{Workspace: "w", Class: "changed"})
	if len(only) != 1 || only[0].ID != a.ID {
		t.Fatalf("filter: %+v", only)
	}
	got, ok, err := s.Get(ctx, b.ID)
	if err != nil || !ok || got.Address != b.Address {
		t.Fatalf("get: %+v %v %v", got, ok, err)
	}
}
