package findings

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
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

// ForPlan reads by id for a targeted plan, and what Reconcile makes of it
// is what it makes of the whole workspace's findings.
func TestForPlan(t *testing.T) {
	env := eventstest.Start(t)
	s := Store{KV: env.Buckets.Findings}
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	resolvedAt := func(f events.Finding) events.Finding { f.State = events.StateResolved; return f }
	other := finding("a.target", "changed", "spec.replicas")
	other.Workspace, other.ID = "other", events.FindingID("other", "a.target", "changed")
	unmanaged := finding("", "unmanaged")
	unmanaged.ID = events.FindingID("w", "object:lab//ConfigMap/ns/x", "unmanaged")
	kept := []events.Finding{
		finding("a.target", "changed", "spec.replicas"),
		resolvedAt(finding("a.target", "deleted")),
		finding("a.target", "churn", "metadata.labels.x"),
		finding("a.target", "ignored", "spec.replicas"),
		finding("a.untargeted", "changed", "spec.replicas"),
		finding("a.dependency", "changed", "metadata.labels.y"),
		unmanaged,
		other,
	}
	for _, f := range kept {
		f.FirstSeen, f.LastSeen = t0, t0
		if err := s.Put(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	results := []classify.Result{
		{Finding: finding("a.target", "deleted")},
		{Finding: finding("a.dependency", "changed", "metadata.labels.y")},
	}
	scope := Scope{Addresses: []string{"a.target"}}
	got, err := s.ForPlan(ctx, "w", scope, results)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.Address+"/"+f.Class)
	}
	want := []string{"a.target/deleted", "a.dependency/changed", "a.target/changed", "a.target/ignored"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("read %v, want %v", ids, want)
	}
	all, err := s.List(ctx, Filter{Workspace: "w"})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := func(cs []Change) map[string]Outcome {
		m := map[string]Outcome{}
		for _, c := range cs {
			m[c.Finding.ID] = c.Outcome
		}
		return m
	}
	t1 := t0.Add(time.Hour)
	byID, byList := outcomes(Reconcile(got, results, scope, t1)), outcomes(Reconcile(all, results, scope, t1))
	if !reflect.DeepEqual(byID, byList) {
		t.Fatalf("reconciled by id %v, by list %v", byID, byList)
	}
	if len(byID) != 4 {
		t.Fatalf("want deleted reopened, dependency seen, changed and ignored resolved: %v", byID)
	}

	for _, sc := range []Scope{{Full: true}, {Addresses: []string{"a.target"}, Unmanaged: true}} {
		got, err := s.ForPlan(ctx, "w", sc, nil)
		if err != nil || len(got) != len(all) {
			t.Fatalf("%+v: read %d findings, want the workspace's %d (%v)", sc, len(got), len(all), err)
		}
	}
}
