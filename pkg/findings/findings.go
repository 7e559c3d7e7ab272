// Package findings keeps drift findings in the findings KV bucket: one key
// per finding id (events.FindingID, stable across plans), the value the
// finding's JSON as DESIGN.md defines it. Reconcile decides, from one plan's
// results and the findings already kept, which open, change, stay or
// resolve; Store reads and writes the bucket. driftgate findings and the
// importer read the bucket through List and Get.
package findings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
)

// Store reads and writes findings.
type Store struct {
	KV jetstream.KeyValue
}

// Filter selects findings; empty fields match everything.
type Filter struct {
	Workspace string
	Class     string
	State     string // open, resolved, or "" for both
}

// Match reports whether f passes the filter.
func (fl Filter) Match(f events.Finding) bool {
	return (fl.Workspace == "" || f.Workspace == fl.Workspace) &&
		(fl.Class == "" || f.Class == fl.Class) &&
		(fl.State == "" || f.State == fl.State)
}

// List returns the findings that pass the filter, sorted by workspace,
// class (in report order) and address.
func (s Store) List(ctx context.Context, fl Filter) ([]events.Finding, error) {
	lister, err := s.KV.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list findings: %w", err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	_ = lister.Stop()
	out := []events.Finding{}
	for _, k := range keys {
		var f events.Finding
		_, ok, err := events.GetJSON(ctx, s.KV, k, &f)
		if err != nil {
			return nil, err
		}
		if ok && fl.Match(f) {
			out = append(out, f)
		}
	}
	Sort(out)
	return out, nil
}

// ForPlan returns the kept findings Reconcile needs for one plan of
// workspace: after a full plan (or one whose scope covers unmanaged
// findings) every finding of the workspace, read with List; after a
// targeted plan only the findings it can open, see again or resolve — its
// results' and, at each address in scope, one per class — read by id
// (a finding's id is events.FindingID(workspace, address, class)), so a
// targeted plan does not scan the bucket.
func (s Store) ForPlan(ctx context.Context, workspace string, scope Scope, results []classify.Result) ([]events.Finding, error) {
	ids, ok := scope.ids(workspace, results)
	if !ok {
		return s.List(ctx, Filter{Workspace: workspace})
	}
	return s.GetAll(ctx, ids)
}

// ids lists the ids of the findings a targeted plan can touch; ok is false
// when the scope needs the whole workspace.
func (s Scope) ids(workspace string, results []classify.Result) (ids []string, ok bool) {
	if s.Full || s.Unmanaged || s.ByObject {
		return nil, false
	}
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, r := range results {
		add(r.Finding.ID)
	}
	for _, a := range s.Addresses {
		for _, c := range events.Classes {
			// Churn is never covered by a plan, unmanaged findings are
			// keyed by object: neither resolves by address.
			if c != events.ClassChurn && c != events.ClassUnmanaged {
				add(events.FindingID(workspace, a, c))
			}
		}
	}
	return ids, true
}

// getAllConcurrency bounds the reads GetAll has in flight.
const getAllConcurrency = 16

// GetAll reads the findings with the given ids, in that order; ids not in
// the bucket are left out.
func (s Store) GetAll(ctx context.Context, ids []string) ([]events.Finding, error) {
	got := make([]events.Finding, len(ids))
	found := make([]bool, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(getAllConcurrency)
	for i, id := range ids {
		g.Go(func() error {
			f, ok, err := s.Get(gctx, id)
			got[i], found[i] = f, ok
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("read findings: %w", err)
	}
	out := make([]events.Finding, 0, len(ids))
	for i := range ids {
		if found[i] {
			out = append(out, got[i])
		}
	}
	return out, nil
}

// Sort orders findings by workspace, class (report order) and address.
func Sort(fs []events.Finding) {
	rank := map[string]int{}
	for i, c := range events.Classes {
		rank[c] = i
	}
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Workspace != b.Workspace {
			return a.Workspace < b.Workspace
		}
		if a.Class != b.Class {
			return rank[a.Class] < rank[b.Class]
		}
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Object.String() < b.Object.String()
	})
}

// Get reads one finding.
func (s Store) Get(ctx context.Context, id string) (events.Finding, bool, error) {
	var f events.Finding
	_, ok, err := events.GetJSON(ctx, s.KV, id, &f)
	return f, ok, err
}

// GetRev reads one finding with its KV revision (0 when absent), for
// compare-and-set updates with PutRev.
func (s Store) GetRev(ctx context.Context, id string) (events.Finding, uint64, bool, error) {
	var f events.Finding
	rev, ok, err := events.GetJSON(ctx, s.KV, id, &f)
	return f, rev, ok, err
}

// PutRev writes a finding if its KV revision is still rev (0: only if it
// does not exist yet). A lost race returns jetstream.ErrKeyExists or the
// wrong-last-sequence API error.
func (s Store) PutRev(ctx context.Context, f events.Finding, rev uint64) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("put finding %s: %w", f.ID, err)
	}
	if rev == 0 {
		_, err = s.KV.Create(ctx, f.ID, b)
	} else {
		_, err = s.KV.Update(ctx, f.ID, b, rev)
	}
	if err != nil {
		return fmt.Errorf("put finding %s: %w", f.ID, err)
	}
	return nil
}

// Put writes a finding under its id.
func (s Store) Put(ctx context.Context, f events.Finding) error {
	if f.ID == "" {
		return errors.New("put finding: id is empty")
	}
	_, err := events.PutJSON(ctx, s.KV, f.ID, f)
	return err
}

// Outcome is what happens to one finding after a plan.
type Outcome int

const (
	// Opened: new, or seen again after it was resolved.
	Opened Outcome = iota
	// Updated: still open and materially different (paths, risk, object,
	// import id or who changed it).
	Updated
	// Seen: still open, nothing material changed.
	Seen
	// Resolved: the plan covered it and no longer shows it.
	Resolved
)

func (o Outcome) String() string {
	return [...]string{"opened", "updated", "seen", "resolved"}[o]
}

// Change is one finding's outcome: the finding as it is to be stored and,
// unless Resolved, the result that produced it.
type Change struct {
	Outcome Outcome
	Finding events.Finding
	Result  *classify.Result
}

// Scope says which findings a plan could have shown: every finding of the
// workspace after a full plan, else those at the plan's target addresses.
type Scope struct {
	Full      bool
	Addresses []string
	// Unmanaged is true when the plan's results include the unmanaged
	// findings (computed over the inventory), so absent ones resolve.
	Unmanaged bool
	// ByObject is true when an address in scope has findings keyed by
	// object as well (the objects of a Helm release, classify.ReleaseObjectID):
	// the workspace's findings are read to find them.
	ByObject bool
}

func (s Scope) covers(f events.Finding) bool {
	switch f.Class {
	case events.ClassChurn:
		return false // churn resolves when its fields stop flipping
	case events.ClassUnmanaged:
		return s.Unmanaged
	}
	return s.Full || slices.Contains(s.Addresses, f.Address)
}

// Reconcile compares one plan's results with the workspace's kept findings
// (open and resolved) and returns what changes. now stamps last_seen and
// the first_seen of new findings.
func Reconcile(existing []events.Finding, results []classify.Result, scope Scope, now time.Time) []Change {
	now = now.UTC()
	byID := map[string]events.Finding{}
	for _, f := range existing {
		byID[f.ID] = f
	}
	var out []Change
	seen := map[string]bool{}
	for i := range results {
		r := &results[i]
		f := r.Finding
		if seen[f.ID] {
			continue
		}
		seen[f.ID] = true
		f.LastSeen, f.State = now, events.StateOpen
		old, ok := byID[f.ID]
		switch {
		case !ok || old.State != events.StateOpen:
			f.FirstSeen = now
			out = append(out, Change{Outcome: Opened, Finding: f, Result: r})
		case Material(old, f):
			f.FirstSeen = old.FirstSeen
			out = append(out, Change{Outcome: Updated, Finding: f, Result: r})
		default:
			f.FirstSeen = old.FirstSeen
			out = append(out, Change{Outcome: Seen, Finding: f, Result: r})
		}
		r.Finding = f
	}
	for _, f := range existing {
		if seen[f.ID] || f.State != events.StateOpen || !scope.covers(f) {
			continue
		}
		f.State = events.StateResolved
		out = append(out, Change{Outcome: Resolved, Finding: f})
	}
	return out
}

// Material reports whether b differs from a in what a person acts on: the
// paths, the risk, the object's identity, the import id, the recommended
// action or who changed it.
func Material(a, b events.Finding) bool {
	if a.Risk != b.Risk || a.ImportID != b.ImportID || a.RecommendedAction != b.RecommendedAction ||
		a.Object.UID != b.Object.UID || a.Object.Name != b.Object.Name || a.Object.Namespace != b.Object.Namespace {
		return true
	}
	if !slices.Equal(sortedCopy(a.Paths), sortedCopy(b.Paths)) {
		return true
	}
	return !slices.Equal(managers(a.Attribution), managers(b.Attribution))
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func managers(as []events.Attribution) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Manager+"/"+a.Operation)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Alerting reports whether a class is announced with drift.detected and
// drift.resolved: every class but ignored ("counted, never alerted").
func Alerting(class string) bool { return class != events.ClassIgnored }

// Counts counts results per class.
func Counts(results []classify.Result) map[string]int {
	m := map[string]int{}
	for _, r := range results {
		m[r.Finding.Class]++
	}
	return m
}

// FormatPaths joins paths for one-line output, capped.
func FormatPaths(paths []string, n int) string {
	if len(paths) <= n {
		return strings.Join(paths, ",")
	}
	return strings.Join(paths[:n], ",") + fmt.Sprintf(",+%d", len(paths)-n)
}
