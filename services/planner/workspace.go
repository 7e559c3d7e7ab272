package planner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/plan"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/tofu"
)

// workspace is one configured workspace and its scheduling state.
type workspace struct {
	cfg        config.Workspace
	name       string
	cluster    string
	runner     *plan.Runner
	rules      classify.Workspace
	classifier *classify.Classifier
	interval   time.Duration
	log        *slog.Logger

	source atomic.Pointer[stateindex.Source]
	ix     atomic.Pointer[stateindex.Index]
	wake   chan struct{}
	src    *gitSource // nil: the configuration is a local dir
	// pinned is the revision the runner is pointed at (owned by the loop).
	pinned string
	// pendingDigest: open pending-config findings by introducing revision,
	// as of the last full plan (owned by the loop).
	pendingDigest []events.PendingConfig

	// Guarded by Service.mu (fed by the KV watch).
	pending  map[string]*pendingEntry
	lastFull time.Time
	// relisted is the revision of the workspace's relisted key while a
	// watcher's relist of its cluster waits to be acted on (relist.go).
	relisted uint64

	// Owned by the workspace's loop goroutine.
	conditions map[string]time.Time // open health conditions and since when
	retryAt    time.Time
	// lastChange is the latest change a plan of this replica covered: a
	// change that comes at least a debounce after it finds the workspace
	// quiet and is planned at once (the leading edge, see nextDue).
	lastChange  time.Time
	backoff     time.Duration
	heldUntil   time.Time
	nextChurnGC time.Time
	// queued is how long the current cycle waited for a plan slot (owned
	// by the loop).
	queued time.Duration
	// helmGone is the release revision each open deleted finding of a Helm
	// release was first carried at (helm.go).
	helmGone map[string]int64
}

func (w *workspace) index() *stateindex.Index { return w.ix.Load() }

func (w *workspace) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Triggers of plan.completed.
const (
	TriggerChange   = "change"
	TriggerInterval = "interval"
	TriggerStartup  = "startup"
	// triggerRelisted is the cycle that acts on a watcher's relist
	// (relist.go): it runs no tool.
	triggerRelisted = "relisted"
)

// loop plans the workspace whenever its pending changes settle, its full
// plan interval passes, or a retry is due.
func (s *Service) loop(ctx context.Context, w *workspace) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.syncedCh:
	}
	// A workspace from Git plans once a revision is checked out (follow
	// pokes it).
	for w.src != nil && w.src.cur.Load() == nil {
		select {
		case <-ctx.Done():
			return nil
		case <-w.wake:
		}
	}
	if err := w.useRevision(); err != nil {
		return err
	}
	for ctx.Err() == nil && w.index() == nil {
		if err := s.loadIndex(ctx, w); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.reportFailure(ctx, w, err)
			s.sleep(ctx, w.nextBackoff())
		}
	}
	poll := time.NewTicker(s.o.statePoll)
	defer poll.Stop()
	for {
		due, trigger := s.nextDue(w)
		timer := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-w.wake:
			timer.Stop()
			continue
		case <-poll.C:
			timer.Stop()
			if err := s.reloadIndex(ctx, w); err != nil {
				w.log.Warn("reload state index", "err", err)
			}
			continue
		case <-timer.C:
		}
		s.cycle(ctx, w, trigger)
	}
}

func (s *Service) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (w *workspace) nextBackoff() time.Duration {
	switch {
	case w.backoff == 0:
		w.backoff = 2 * time.Second
	case w.backoff < 2*time.Minute:
		w.backoff *= 2
	}
	return w.backoff
}

// nextDue is when the workspace should plan next, and why.
func (s *Service) nextDue(w *workspace) (time.Time, string) {
	now := time.Now()
	s.mu.Lock()
	var first, last time.Time
	for _, e := range w.pending {
		if first.IsZero() || e.rec.First.Before(first) {
			first = e.rec.First
		}
		if e.rec.Last.After(last) {
			last = e.rec.Last
		}
	}
	lastFull, relisted := w.lastFull, w.relisted
	s.mu.Unlock()

	due, trigger := now.Add(time.Hour), ""
	if !first.IsZero() {
		// Leading edge: the first change in a quiet workspace (no change
		// a plan covered within a debounce before it) plans at once.
		// Otherwise the trailing edge: a debounce after the latest change,
		// at the latest max_wait after the first; the rest of a burst whose
		// first change was planned at once is coalesced into the next plan.
		due, trigger = minTime(last.Add(s.debounce), first.Add(s.maxWait)), TriggerChange
		if s.debounce > 0 && first.Sub(w.lastChange) >= s.debounce {
			due = first
		}
	}
	full := lastFull.Add(w.interval)
	if lastFull.IsZero() {
		full = now
	}
	// A due full plan covers every pending change too: it goes first.
	if !full.After(due) || !full.After(now) {
		due, trigger = full, TriggerInterval
		if lastFull.IsZero() {
			trigger = TriggerStartup
		}
	}
	if w.src != nil && w.src.changed.Load() {
		// A new revision of the configuration: a full plan at once.
		due, trigger = now, TriggerRevision
	}
	if relisted != 0 {
		// Runs no tool: its objects are planned as changes after it.
		due, trigger = now, triggerRelisted
	}
	if w.nextChurnGC.IsZero() {
		w.nextChurnGC = now.Add(s.churnGCInterval())
	}
	if w.nextChurnGC.Before(due) {
		due, trigger = w.nextChurnGC, "maintenance"
	}
	if w.retryAt.After(due) {
		due = w.retryAt
	}
	if w.heldUntil.After(due) {
		due = w.heldUntil
	}
	return due, trigger
}

func (s *Service) churnGCInterval() time.Duration {
	return min(max(s.churnWindow/4, 5*time.Second), time.Minute)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// cycle takes a plan slot (slots.go) and the workspace's lease, and plans
// (or resolves quiet churn, which runs no tool and takes no slot).
func (s *Service) cycle(ctx context.Context, w *workspace, trigger string) {
	if trigger != "maintenance" && trigger != triggerRelisted {
		release, waited, err := s.acquireSlot(ctx, w)
		if err != nil {
			return // ctx ended
		}
		defer release()
		w.queued = waited
	}
	err := events.WithLease(ctx, s.d.Buckets.Leases, "planner."+w.name, s.d.Instance, s.o.leaseTTL,
		func(lctx context.Context) error {
			if trigger == "maintenance" {
				w.nextChurnGC = time.Now().Add(s.churnGCInterval())
				return s.resolveQuietChurn(lctx, w, "")
			}
			if trigger == triggerRelisted {
				return s.afterRelist(lctx, w)
			}
			if s.fullPlanDone(w, trigger) {
				return nil
			}
			return s.planOnce(lctx, w, trigger)
		})
	switch {
	case err == nil && (trigger == "maintenance" || trigger == triggerRelisted):
	case err == nil:
		w.backoff, w.retryAt = 0, time.Time{}
	case errors.Is(err, events.ErrLeaseHeld):
		// Another replica plans it; its deletions of the pending entries
		// reach us through the watch.
		w.heldUntil = time.Now().Add(max(s.o.leaseTTL/5, 200*time.Millisecond))
		if trigger == "maintenance" {
			w.nextChurnGC = time.Now().Add(s.churnGCInterval())
		}
	case ctx.Err() != nil:
	default:
		w.retryAt = time.Now().Add(w.nextBackoff())
		w.log.Warn("plan cycle failed; retrying", "err", err, "retry_in", time.Until(w.retryAt).Round(time.Second))
	}
}

// loadIndex initializes the workspace (init) to learn where its state is,
// and loads the state index.
func (s *Service) loadIndex(ctx context.Context, w *workspace) error {
	if w.source.Load() == nil {
		release, _, err := s.acquireSlot(ctx, w)
		if err != nil {
			return err
		}
		_, err = w.runner.Prepare(ctx)
		release()
		if err != nil {
			return err
		}
		loc, err := w.runner.StateLocation()
		if err != nil {
			return &tofu.Error{Kind: tofu.KindInit, Workspace: w.name, Op: "state-location", Summary: err.Error(), Err: err}
		}
		client, err := tofu.NewS3Client(ctx, loc)
		if err != nil {
			return &tofu.Error{Kind: tofu.KindCredentials, Workspace: w.name, Op: "state-location", Summary: err.Error(), Err: err}
		}
		w.source.Store(stateindex.NewSource(client, loc))
		w.log.Info("state index source", "location", loc.String())
	}
	return s.reloadIndex(ctx, w)
}

// reloadIndex reads the state object again if its ETag or version changed.
func (s *Service) reloadIndex(ctx context.Context, w *workspace) error {
	src := w.source.Load()
	if src == nil {
		return nil
	}
	ix, changed, err := src.Load(ctx)
	if err != nil {
		return tofu.Classify(ctx, w.name, "read-state", err)
	}
	if changed {
		prev := w.ix.Swap(ix)
		w.log.Info("state index loaded", "serial", ix.Serial, "objects", ix.Objects(), "entries", ix.Len(), "resources", ix.Resources)
		if err := s.putStateKinds(ctx, w, ix); err != nil {
			w.log.Warn("record the kinds in state for the watcher", "err", err)
		}
		if prev != nil {
			if err := s.recheckOpenFindings(ctx, w, "state changed"); err != nil {
				w.log.Warn("plan the open findings again after a state change", "err", err)
			}
			if err := s.recheckRemoved(ctx, w, prev, ix); err != nil {
				w.log.Warn("plan the objects that left the state", "err", err)
			}
		}
	}
	return nil
}

// putStateKinds tells watchers configured with auto which kinds the
// workspace's state manages.
func (s *Service) putStateKinds(ctx context.Context, w *workspace, ix *stateindex.Index) error {
	sk := events.StateKinds{Workspace: w.name, Cluster: w.cluster, Serial: ix.Serial, UpdatedAt: time.Now()}
	for _, e := range ix.Entries() {
		sk.Resources = append(sk.Resources, events.KindName(e.Object.Group, e.Object.Kind))
	}
	return events.PutStateKinds(ctx, s.d.Buckets.State, sk)
}

// firstChange is when the oldest change a plan covers happened (zero: none).
func firstChange(entries []pendingEntry) time.Time {
	var t time.Time
	for _, e := range entries {
		if t.IsZero() || e.rec.First.Before(t) {
			t = e.rec.First
		}
	}
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func newPlanID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "p-" + hex.EncodeToString(b)
}

// planOnce runs one plan of the workspace under its lease.
func (s *Service) planOnce(ctx context.Context, w *workspace, trigger string) error {
	start := time.Now()
	ph := newPhases(start)
	if err := s.reloadIndex(ctx, w); err != nil {
		w.log.Warn("reload state index before planning", "err", err)
	}
	if w.queued > 0 {
		ph.add("queue", w.queued) // before start, like wait, of which it is a part
	}
	ph.lap("index")
	ix := w.index()
	if ix == nil {
		return errors.New("state index not loaded")
	}
	s.mu.Lock()
	entries := make([]pendingEntry, 0, len(w.pending))
	for _, e := range w.pending {
		entries = append(entries, *e)
	}
	s.mu.Unlock()
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	for _, e := range entries {
		if e.rec.Last.After(w.lastChange) {
			w.lastChange = e.rec.Last
		}
	}

	full := trigger == TriggerInterval || trigger == TriggerStartup || trigger == TriggerRevision
	// The revision this plan runs on: the runner is pointed at its
	// checkout here, in the loop, so nothing switches it mid-plan.
	if err := w.useRevision(); err != nil {
		return err
	}
	revChanged := w.src != nil && w.src.changed.Swap(false)
	if trigger == TriggerChange && len(entries) == 0 {
		return nil // another replica planned them meanwhile
	}
	observed := map[string][]events.PathOwner{}
	addrSet := map[string]bool{}
	changes := 0
	for _, e := range entries {
		changes += e.rec.Count
		k := tfkube.RefKey(e.rec.Object)
		observed[k] = append(observed[k], e.rec.Writes...)
		es := ix.LookupOwned(e.rec.Object, e.rec.Owners)
		if len(es) == 0 {
			full = true // not in state: which address could create it is unknown
		}
		for _, en := range es {
			addrSet[en.Address] = true
		}
	}
	var targets []string
	if !full {
		for a := range addrSet {
			targets = append(targets, a)
		}
		sort.Strings(targets)
		if len(targets) > s.o.maxTargets {
			full, targets = true, nil
		}
	}
	if len(entries) > 0 {
		ph.add("wait", start.Sub(firstChange(entries))) // before start: the clock stays
	}
	planID := newPlanID()
	ph.lap("scope")
	res, err := s.runPlan(ctx, w, ix, targets)
	if err != nil {
		if revChanged {
			w.src.changed.Store(true) // the new revision still waits for its plan
		}
		if ctx.Err() == nil {
			s.reportFailure(ctx, w, err)
			s.publishPlan(ctx, w, planID, trigger, full, false, targets, changes, nil, ix, start, ph, err)
		}
		return err
	}
	ph.set("prepare", res.PrepareDuration)
	ph.set("plan", res.PlanDuration)
	if res.Native {
		ph.set("decode", res.ShowDuration) // the plan file read without show -json
	} else {
		ph.set("show", res.ShowDuration)
	}
	ph.lap("tool-other")
	s.reportRecovered(ctx, w)
	now := time.Now()
	gone, err := s.goneReleaseObjects(ctx, w, ix, entries) // helm.go
	if err != nil {
		return err
	}
	releases := coveredReleases(ix, targets)
	results, err := w.classifier.Classify(ctx, classify.Input{Plan: res.Plan, Observed: observed,
		Releases: releases, Gone: gone, Now: now, Catalog: res.Catalog})
	if err != nil {
		return fmt.Errorf("classify: %w", err)
	}
	results = append(results, unowned(w, ix, entries, results, now)...)
	if full {
		um, err := s.unmanaged(ctx, w, results, now)
		if err != nil {
			return err
		}
		results = append(results, um...)
	}
	ph.lap("classify")
	err = s.reconcile(ctx, w, planID, ix.Serial, revChanged, results, findings.Scope{Full: full, Addresses: targets, Unmanaged: full, ByObject: len(releases) > 0}, now, ph)
	if err != nil {
		if revChanged {
			w.src.changed.Store(true)
		}
		return err
	}
	if revChanged || full {
		w.pendingDigest = s.pendingDigest(ctx, w)
	}
	if full {
		// Reads every churn finding of the workspace: full plans only; the
		// maintenance cycle resolves quiet churn in between.
		if err := s.resolveQuietChurn(ctx, w, planID); err != nil {
			w.log.Warn("resolve quiet churn", "err", err)
		}
		ph.lap("churn")
	}
	s.publishPlan(ctx, w, planID, trigger, full, res.Scoped, targets, changes, results, ix, start, ph, nil)
	ph.lap("publish")
	s.consumePending(ctx, entries)
	ph.lap("consume")
	if full {
		if b, err := json.Marshal(start.UTC()); err == nil {
			if _, err := s.d.Buckets.State.Put(ctx, lastFullKey(w.name), b); err != nil {
				w.log.Warn("record full plan time", "err", err)
			}
		}
		s.mu.Lock()
		w.lastFull = start
		s.mu.Unlock()
	}
	w.log.Info("plan completed", "plan_id", planID, "trigger", trigger, "full", full, "targets", len(targets), "scoped_state", res.Scoped,
		"changes", changes, "findings", len(results), "duration", time.Since(start).Round(time.Millisecond),
		"phases", ph)
	return nil
}

// runPlan runs the plan: a full one on the backend's state; a targeted one,
// unless planner.targeted_full_state is set, on the state of ix cut down to
// the targets and what they depend on (stateindex.Scope, plan.PlanScoped),
// which costs the tool far less than reading, copying and expanding the
// whole state. Whenever the cut is not known to be safe, the scoped run
// fails, its plan shows an instance the cut left out (Scoped.Check), or the
// state object changed while it ran (stateMoved), the targeted plan runs on
// the backend's state as it always did; why is logged at debug (a failed
// scoped run at info).
func (s *Service) runPlan(ctx context.Context, w *workspace, ix *stateindex.Index, targets []string) (*plan.Result, error) {
	if len(targets) == 0 || s.cfg.Planner.TargetedFullState {
		return w.runner.Plan(ctx, targets)
	}
	sc, err := ix.Scope(targets)
	if err != nil {
		w.log.Debug("targeted plan on the full state", "reason", err)
		return w.runner.Plan(ctx, targets)
	}
	res, err := w.runner.PlanScoped(ctx, targets, sc.State)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, err
	case errors.Is(err, plan.ErrNotScopable):
		w.log.Debug("targeted plan on the full state", "reason", err)
	case err != nil:
		w.log.Info("targeted plan on the full state: the plan on the scoped state failed", "err", err)
	default:
		if err := sc.Check(res.Plan); err != nil {
			w.log.Debug("targeted plan on the full state", "reason", err)
		} else if moved := s.stateMoved(ctx, w, ix); moved != "" {
			w.log.Debug("targeted plan on the full state", "reason", moved)
		} else {
			w.log.Debug("targeted plan on a scoped state", "instances", sc.Kept, "of", sc.Total)
			return res, nil
		}
	}
	return w.runner.Plan(ctx, targets)
}

// stateMoved says why a plan on a copy of ix's state is not what a plan on
// the backend would have shown: the state object changed since ix was read
// (an apply wrote it while the plan ran), or whether it did cannot be told;
// "" when it is still ix's. A plan on the backend reads the state once, at
// some moment during its run, so a plan on a copy of the state that was
// current from before the plan started to after it ended is one it could
// have made. The index is reloaded as the state poll would.
func (s *Service) stateMoved(ctx context.Context, w *workspace, ix *stateindex.Index) string {
	if err := s.reloadIndex(ctx, w); err != nil {
		return fmt.Sprintf("the state could not be checked after the plan on the scoped state: %v", err)
	}
	if cur := w.index(); cur.ETag != ix.ETag || cur.VersionID != ix.VersionID {
		return fmt.Sprintf("the state changed (serial %d to %d) during the plan on the scoped state", ix.Serial, cur.Serial)
	}
	return ""
}

// unowned adds the ignored findings of managed objects the watcher saw
// change in fields the plan shows no difference in (an operator's
// defaults): counted, never alerted.
func unowned(w *workspace, ix *stateindex.Index, entries []pendingEntry, results []classify.Result, now time.Time) []classify.Result {
	reported := map[string][]string{}
	for _, r := range results {
		reported[r.Finding.Address] = append(reported[r.Finding.Address], r.Finding.Paths...)
	}
	var out []classify.Result
	for _, e := range entries {
		if len(e.rec.Writes) == 0 || e.rec.Change == events.ChangeDeleted {
			continue
		}
		for _, en := range ix.Lookup(e.rec.Object) {
			if r, ok := classify.Unowned(w.rules, en.Address, en.Object, e.rec.Writes, reported[en.Address], now); ok {
				if hasFinding(results, r.Finding.ID) {
					continue
				}
				out = append(out, r)
			}
		}
	}
	return out
}

func hasFinding(rs []classify.Result, id string) bool {
	for _, r := range rs {
		if r.Finding.ID == id {
			return true
		}
	}
	return false
}

// reconcile stores the plan's findings and announces what opened, changed
// and resolved; newRevision: the plan is the first at a new revision of the
// configuration, so open unimported findings are announced again with it.
func (s *Service) reconcile(ctx context.Context, w *workspace, planID string, serial int64, newRevision bool, results []classify.Result, scope findings.Scope, now time.Time, ph *phases) error {
	existing, err := s.store.ForPlan(ctx, w.name, scope, results)
	if err != nil {
		return err
	}
	ph.lap("findings-read")
	defer ph.lap("findings-write")
	old := map[string]events.Finding{}
	for _, f := range existing {
		old[f.ID] = f
	}
	for _, c := range findings.Reconcile(existing, results, scope, now) {
		f := c.Finding
		if w.pinned != "" {
			// The revision the finding was first judged on (for
			// pending-config: the one that introduced the change).
			if o, ok := old[f.ID]; ok && o.Revision != "" && o.State == events.StateOpen {
				f.Revision = o.Revision
			} else if f.Revision == "" || c.Outcome == findings.Opened {
				f.Revision = w.pinned
			}
		}
		// An import request rests on the revision and the state serial its
		// finding was judged on: at a new revision or serial, the open
		// unimported findings are announced again (the notifier's
		// fingerprint leaves both out, so no alert repeats). The serial is
		// the finding's own, not this replica's last plan: an import and a
		// `state rm` between two state polls, or a replica restarted
		// between them, leave no other trace (found by test/chaos).
		f.AnnouncedSerial = old[f.ID].AnnouncedSerial
		again := c.Outcome == findings.Seen && f.Class == events.ClassUnimported &&
			(newRevision || f.AnnouncedSerial != serial)
		if c.Outcome == findings.Opened || c.Outcome == findings.Updated || again {
			f.AnnouncedSerial = serial
		}
		if c.Outcome == findings.Seen && !again && now.Sub(old[f.ID].LastSeen) < time.Minute {
			continue // nothing to announce, and seen a moment ago: spare the write
		}
		// The bucket first, the event second: whoever reacts to the event
		// finds the finding as announced. If the event cannot be
		// published, the bucket goes back, so the next plan announces it.
		if err := s.store.Put(ctx, f); err != nil {
			return err
		}
		var ev events.Data
		switch {
		case !findings.Alerting(f.Class):
		case c.Outcome == findings.Opened || c.Outcome == findings.Updated || again:
			ev = &events.DriftDetected{Finding: f, Excerpt: c.Result.Excerpt, PlanID: planID, Reason: c.Result.Reason, StateSerial: serial,
				Revision: w.pinned}
		case c.Outcome == findings.Resolved:
			ev = &events.DriftResolved{Finding: f, PlanID: planID, Reason: "the plan no longer shows it"}
		}
		if ev == nil {
			continue
		}
		if _, err := s.pub.Publish(ctx, ev); err != nil {
			s.restore(ctx, f.ID, old)
			return err
		}
	}
	return nil
}

// restore puts a finding back as it was before a write whose event could
// not be published.
func (s *Service) restore(ctx context.Context, id string, old map[string]events.Finding) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if f, ok := old[id]; ok {
		err = s.store.Put(rctx, f)
	} else {
		err = s.store.KV.Delete(rctx, id)
	}
	if err != nil {
		s.log.Warn("restore finding after a failed publish", "id", id, "err", err)
	}
}

// resolveQuietChurn resolves churn findings whose fields stopped flipping
// for a whole window.
func (s *Service) resolveQuietChurn(ctx context.Context, w *workspace, planID string) error {
	open, err := s.store.List(ctx, findings.Filter{Workspace: w.name, Class: events.ClassChurn, State: events.StateOpen})
	if err != nil {
		return err
	}
	if planID == "" {
		planID = "quiet-" + time.Now().UTC().Format("20060102T150405")
	}
	for _, f := range open {
		if time.Since(f.LastSeen) < s.churnWindow {
			continue
		}
		prev := map[string]events.Finding{f.ID: f}
		f.State = events.StateResolved
		if err := s.store.Put(ctx, f); err != nil {
			return err
		}
		if _, err := s.pub.Publish(ctx, &events.DriftResolved{Finding: f, PlanID: planID,
			Reason: "the fields stopped flipping between managers"}); err != nil {
			s.restore(ctx, f.ID, prev)
			return err
		}
	}
	return nil
}

// unmanaged finds live objects in the workspace's declared scope that no
// workspace manages and that this plan does not create.
func (s *Service) unmanaged(ctx context.Context, w *workspace, results []classify.Result, now time.Time) ([]classify.Result, error) {
	if len(w.cfg.Namespaces) == 0 && len(w.cfg.Kinds) == 0 {
		return nil, nil
	}
	refs, err := s.inv.Keys(ctx, w.cluster)
	if err != nil {
		return nil, err
	}
	planned := map[string]bool{}
	for _, r := range results {
		planned[tfkube.RefKey(r.Finding.Object)] = true
	}
	var out []classify.Result
	for _, ref := range refs {
		if !classify.InScope(w.cfg.Namespaces, w.cfg.Kinds, ref, "") || planned[tfkube.RefKey(ref)] || s.managedAnywhere(ref) {
			continue
		}
		rec, ok, err := s.inv.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		if !ok || classify.SystemObject(rec) || s.releaseOwned(rec) {
			continue
		}
		out = append(out, classify.Unmanaged(w.rules, rec, now))
	}
	return out, nil
}

// managedAnywhere reports whether some workspace's state manages ref; a
// workspace whose index is not loaded yet might, so it counts as managing.
func (s *Service) managedAnywhere(ref events.ObjectRef) bool {
	for _, w := range s.workspaces {
		if w.cluster != "" && w.cluster != ref.Cluster {
			continue
		}
		ix := w.index()
		if ix == nil || ix.Manages(ref) {
			return true
		}
	}
	return false
}

// publishPlan publishes plan.completed.
func (s *Service) publishPlan(ctx context.Context, w *workspace, planID, trigger string, full, scoped bool, targets []string,
	changes int, results []classify.Result, ix *stateindex.Index, start time.Time, ph *phases, planErr error) {
	pc := &events.PlanCompleted{
		WS: w.name, PlanID: planID, Trigger: trigger, Full: full, ScopedState: scoped, Targets: targets, Changes: changes,
		Counts: findings.Counts(results), StartedAt: start.UTC(), DurationMS: time.Since(start).Milliseconds(),
		PhasesMS: ph.millis(),
	}
	pc.Tool, pc.ToolVersion = w.runner.Tool()
	pc.Revision = w.pinned
	if planErr == nil {
		pc.PendingConfig = w.pendingDigest
	}
	if ix != nil {
		pc.StateSerial = ix.Serial
	}
	if planErr != nil {
		pc.Error = planErr.Error()
	}
	if _, err := s.pub.Publish(ctx, pc); err != nil {
		w.log.Warn("publish plan.completed", "err", err)
	}
}
