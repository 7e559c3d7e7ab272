// Package execute carries out one gated import as a transaction on the state
// object: preflight, remember the state version, import under the state
// lock, verify by a targeted re-plan, settle Terraform-only attributes in the
// state, prove the live object untouched — and on any failure restore the
// remembered state version.
//
// Every step is written to a journal before the state can change, so a crash
// at any point leaves a state that Recover either verifies and keeps or
// restores: never an unverified import.
package execute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/pkg/verify"
	"github.com/driftgate/driftgate/services/importer/internal/live"
	"github.com/driftgate/driftgate/services/importer/internal/statefile"
)

// Request is one import to carry out.
type Request struct {
	ID        string           `json:"id"`
	Workspace string           `json:"workspace"`
	Address   string           `json:"address"`
	ImportID  string           `json:"import_id"`
	Object    events.ObjectRef `json:"object"`
	Risk      string           `json:"risk"`
	// StateSerial is the serial the request was made against.
	StateSerial int64 `json:"state_serial"`
}

// Steps, as events and the journal name them.
const (
	StepPreflight = "preflight"
	StepLock      = "lock"
	StepImport    = "import"
	StepVerify    = "verify"
	StepSettle    = "settle"
	StepUntouched = "untouched"
	StepRollback  = "rollback"
	StepRecover   = "recover"
	StepDone      = "done"
)

// Outcome statuses.
const (
	Succeeded  = "succeeded"  // imported, verified, state kept
	RolledBack = "rolledback" // state changed, then restored to the remembered version
	Failed     = "failed"     // refused or failed before the state changed (or could not be restored: see Step)
)

// Outcome is what happened to a request.
type Outcome struct {
	Request Request
	Status  string
	Step    string // where it stopped
	Reason  string
	// Diff is what blocked verification, one line per difference.
	Diff []string
	// Ignored are differing Kubernetes paths that verification ignored.
	Ignored []string
	// Settled are the Terraform-only attributes written into the state.
	Settled       []string
	Before, After tofu.Version
	Duration      time.Duration
	// Timings of the steps (preflight, lock, import, verify, settle, untouched, rollback).
	Timings map[string]time.Duration
}

// Entry is the journal of the import in flight in a workspace.
type Entry struct {
	Request Request      `json:"request"`
	Step    string       `json:"step"`
	Before  tofu.Version `json:"before"`
	After   tofu.Version `json:"after,omitzero"`
	// Snapshot is the live object before the import.
	Snapshot live.Snapshot `json:"snapshot"`
	// LockID is the S3 lock object we hold (lock-file backends).
	LockID    string    `json:"lock_id,omitempty"`
	Holder    string    `json:"holder"`
	StartedAt time.Time `json:"started_at"`
}

// Journal keeps a workspace's in-flight import durable (NATS KV for the
// service, an S3 object next to the state for a CLI run) and the serial
// changes driftgate's own imports made.
type Journal interface {
	Load(ctx context.Context) (*Entry, error)
	Save(ctx context.Context, e *Entry) error
	Clear(ctx context.Context) error
	// Moved records that a committed import moved the serial from -> to.
	Moved(ctx context.Context, from, to int64) error
	// Moves returns the recorded serial moves.
	Moves(ctx context.Context) (map[int64]int64, error)
}

// Workspace is what the engine works on.
type Workspace struct {
	Name  string
	TF    *tofu.Runner
	State *tofu.Store
	// Lockfile: the backend locks with an S3 lock object (OpenTofu's
	// use_lockfile); the engine holds it for the whole transaction and runs
	// the tool with -lock=false. Otherwise the tool takes its own lock for
	// each command that writes.
	Lockfile bool
	Live     *live.Reader
	Journal  Journal
	// Ignore are the workspace's ignore rules. A difference in a field is
	// ignored when a rule covers it or a controller owns it, as the
	// planner's "ignored" class has it.
	Ignore []config.IgnoreRule
}

// Engine runs imports.
type Engine struct {
	// LockWait bounds how long to wait for a state lock held by someone
	// else (default 5 minutes); the lock is never forced.
	LockWait time.Duration
	// Who names this importer in lock objects.
	Who string
	Log *slog.Logger
	// OnLockWait is told when the state lock is found held (held true, with
	// the holder) and when it was acquired after waiting (held false).
	OnLockWait func(ws string, held bool, info string)
	// Preflight is an extra check before anything changes (the service
	// checks the inventory); an error refuses the request.
	Preflight func(ctx context.Context, r Request) error
	// ToolTimeout bounds each tool run of a transaction (import, plans,
	// refresh); a run that takes longer is interrupted (SIGINT) and the
	// import rolled back. Zero: no bound but the caller's context.
	ToolTimeout time.Duration
	// AfterStep is called after the journal records each step; tests use it
	// to kill the process at a precise point.
	AfterStep func(step string)
	// sleep is time.Sleep with a context; tests may shorten it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (e *Engine) log() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

func (e *Engine) lockWait() time.Duration {
	if e.LockWait <= 0 {
		return 5 * time.Minute
	}
	return e.LockWait
}

func (e *Engine) wait(ctx context.Context, d time.Duration) error {
	if e.sleep != nil {
		return e.sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bounded returns ctx limited to ToolTimeout.
func (e *Engine) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if e.ToolTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, e.ToolTimeout)
}

func (e *Engine) step(s string) {
	if e.AfterStep != nil {
		e.AfterStep(s)
	}
}

// run is one transaction in flight.
type run struct {
	e     *Engine
	ws    *Workspace
	req   Request
	out   Outcome
	start time.Time
	entry *Entry
	lock  *tofu.Lock
}

func (r *run) timed(step string) func() {
	t := time.Now()
	return func() { r.out.Timings[step] += time.Since(t) }
}

func (r *run) finish(status, step, reason string) Outcome {
	r.out.Status, r.out.Step, r.out.Reason = status, step, reason
	r.out.Duration = time.Since(r.start)
	return r.out
}

// Execute carries out one import. It returns an Outcome for everything that
// is a verdict on the request; a non-nil error means the engine could not
// reach a verdict (context cancelled, journal unreachable) and the journal
// says where a later Recover picks up.
func (e *Engine) Execute(ctx context.Context, ws *Workspace, req Request) (Outcome, error) {
	r := &run{e: e, ws: ws, req: req, start: time.Now(), out: Outcome{Request: req, Timings: map[string]time.Duration{}}}
	if prev, err := ws.Journal.Load(ctx); err != nil {
		return Outcome{}, err
	} else if prev != nil {
		return Outcome{}, fmt.Errorf("workspace %s has an import in flight (%s at %s): recover it first", ws.Name, prev.Request.ID, prev.Step)
	}

	// Preflight: nothing has changed yet; a failure is a refusal.
	done := r.timed(StepPreflight)
	snap, cur, err := r.preflight(ctx)
	done()
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return r.finish(Failed, StepPreflight, err.Error()), nil
	}

	// The state lock, for the whole transaction on lock-file backends.
	if ws.Lockfile {
		done := r.timed(StepLock)
		lock, err := r.acquire(ctx)
		done()
		if err != nil {
			if ctx.Err() != nil {
				return Outcome{}, ctx.Err()
			}
			return r.finish(Failed, StepLock, err.Error()), nil
		}
		r.lock = lock
		defer r.unlock()
		// The state may have moved while we waited.
		if cur, err = r.checkState(ctx); err != nil {
			return r.finish(Failed, StepPreflight, err.Error()), nil
		}
	}

	// Remember the state version before anything writes it.
	r.out.Before = cur
	r.entry = &Entry{Request: req, Step: StepImport, Before: meta(cur), Snapshot: snap, Holder: e.Who, StartedAt: time.Now().UTC()}
	if r.lock != nil {
		r.entry.LockID = r.lock.Info().ID
	}
	if err := ws.Journal.Save(ctx, r.entry); err != nil {
		return r.finish(Failed, StepImport, "journal: "+err.Error()), nil
	}
	e.step("remembered")

	done = r.timed(StepImport)
	err = r.importWithRetry(ctx)
	done()
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return r.undo(ctx, StepImport, err.Error(), nil)
	}
	after, err := ws.State.Current(ctx)
	if err != nil {
		return Outcome{}, err
	}
	r.out.After = after
	r.entry.Step, r.entry.After = StepVerify, meta(after)
	if err := ws.Journal.Save(ctx, r.entry); err != nil {
		return Outcome{}, err
	}
	e.step("imported")
	// The import has just read the object: the verification plans against
	// that, without reading it again (a change in between shows in the
	// untouched check).
	return r.verifyAndCommit(ctx, false)
}

// Recover finishes or rolls back the import a crash left in the workspace's
// journal. It returns nil when there was none.
func (e *Engine) Recover(ctx context.Context, ws *Workspace) (*Outcome, error) {
	ent, err := ws.Journal.Load(ctx)
	if err != nil || ent == nil {
		return nil, err
	}
	r := &run{e: e, ws: ws, req: ent.Request, start: time.Now(), entry: ent, out: Outcome{Request: ent.Request, Timings: map[string]time.Duration{}}}
	e.log().Warn("recovering an interrupted import", "workspace", ws.Name, "request", ent.Request.ID, "step", ent.Step)
	if ws.Lockfile {
		holder, err := ws.State.LockHolder(ctx)
		if err != nil {
			return nil, err
		}
		if holder.ID != "" && holder.ID == ent.LockID {
			// Still our own lock from before the crash: carry on under it.
			r.lock = ws.State.Adopt(holder)
		} else {
			lock, err := r.acquire(ctx)
			if err != nil {
				return nil, fmt.Errorf("recover %s: %w", ent.Request.ID, err)
			}
			r.lock = lock
			r.entry.LockID = lock.Info().ID
		}
		defer r.unlock()
	}
	before, err := r.beforeVersion(ctx)
	if err != nil {
		return nil, err
	}
	r.out.Before = before
	cur, err := ws.State.Current(ctx)
	if err != nil {
		return nil, err
	}
	if sameVersion(cur, before) {
		out := r.finish(Failed, StepRecover, "interrupted at "+ent.Step+" before the state was written; nothing to roll back")
		return &out, ws.Journal.Clear(ctx)
	}
	if ent.After.Exists && !sameVersion(cur, ent.After) && before.Exists && cur.Exists && tofu.SameContent(cur.Body, before.Body) {
		// The content from before the import, written forward at a new
		// serial: our own rollback, done before the crash (or a NATS outage)
		// kept the journal from being cleared.
		r.out.After = cur
		out := r.finish(RolledBack, StepRecover, fmt.Sprintf("interrupted at %s after its rollback: the state (version %s) holds the content from before the import again", ent.Step, cur))
		return &out, ws.Journal.Clear(ctx)
	}
	if ent.After.Exists && !sameVersion(cur, ent.After) {
		// Not the version our import wrote: someone else wrote since.
		out := r.finish(Failed, StepRecover, fmt.Sprintf("interrupted at %s; the state is now version %s, written by someone else after our import (%s): not rolled back, review it",
			ent.Step, cur, ent.After))
		return &out, ws.Journal.Clear(ctx)
	}
	// The current version is our import's: verify it now, keep or restore.
	r.out.After = cur
	r.entry.Step, r.entry.After = StepVerify, meta(cur)
	if err := ws.Journal.Save(ctx, r.entry); err != nil {
		return nil, err
	}
	// Recovery may come long after the import: read the object again.
	out, err := r.verifyAndCommit(ctx, true)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// verifyAndCommit runs from "the import wrote the state" to a verdict.
func (r *run) verifyAndCommit(ctx context.Context, refresh bool) (Outcome, error) {
	ws, req := r.ws, r.req
	done := r.timed(StepVerify)
	pctx, cancel := r.e.bounded(ctx)
	p, err := ws.TF.PlanJSON(pctx, tofu.PlanOptions{Targets: []string{req.Address}, NoRefresh: !refresh})
	cancel()
	done()
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return r.undo(ctx, StepVerify, err.Error(), nil)
	}
	// Field owners and values come from a fresh read (the journal's
	// snapshot, after a crash, does not keep them).
	cur, err := ws.Live.Snapshot(ctx, req.Object)
	if err != nil {
		return r.undo(ctx, StepVerify, err.Error(), nil)
	}
	owners, obj := cur.FieldOwners, cur.Object
	res := r.check(p, owners, obj)
	r.out.Ignored = res.Ignored
	if !res.OK() {
		return r.undo(ctx, StepVerify, "the re-plan is not clean", res.Blocking)
	}
	if res.Manifest != nil {
		// A kubectl_manifest import records the whole live object as its
		// YAML: compare the configuration's fields with the live ones.
		blocking, ignored, err := r.compareManifest(ctx, res.Manifest, owners)
		if err != nil {
			return r.undo(ctx, StepVerify, err.Error(), nil)
		}
		r.out.Ignored = append(r.out.Ignored, ignored...)
		if len(blocking) > 0 {
			return r.undo(ctx, StepVerify, "the manifest's fields differ from the live object", blocking)
		}
		for k, v := range res.Manifest.Settle {
			res.Settle[k] = v
		}
	}
	marks := configMarks(p, req.Address)
	if len(res.Settle) > 0 || len(marks) > 0 {
		done := r.timed(StepSettle)
		err := r.settle(ctx, res.Settle, marks, res.Manifest != nil, owners, obj)
		done()
		if err != nil {
			if ctx.Err() != nil {
				return Outcome{}, ctx.Err()
			}
			var be *blockedError
			if errors.As(err, &be) {
				return r.undo(ctx, StepSettle, "the plan after settling is not clean", be.lines)
			}
			return r.undo(ctx, StepSettle, err.Error(), nil)
		}
	}
	done = r.timed(StepUntouched)
	after, err := ws.Live.Snapshot(ctx, req.Object)
	done()
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		return r.undo(ctx, StepUntouched, err.Error(), nil)
	}
	if ch := live.Changes(r.entry.Snapshot, after); len(ch) > 0 {
		return r.undo(ctx, StepUntouched, "the live object changed during the import", ch)
	}
	// Commit.
	if err := ws.Journal.Moved(ctx, r.entry.Before.Serial, r.out.After.Serial); err != nil {
		return Outcome{}, err
	}
	if err := ws.Journal.Clear(ctx); err != nil {
		return Outcome{}, err
	}
	r.e.step(StepDone)
	return r.finish(Succeeded, StepDone, ""), nil
}

func (r *run) check(p *tfjson.Plan, owners map[string]events.Attribution, liveObj map[string]any) verify.Result {
	o := r.req.Object
	obj := tfkube.Object{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name,
		UID: o.UID, Resource: r.entry.Snapshot.Resource}
	return verify.Check(p, r.req.Address, verify.RulesFor(obj, r.ws.Ignore, owners, liveObj))
}

// settle writes the planned values of Terraform-only attributes into the
// state the import wrote (a compare-and-set on its version: no provider, no
// API request), then re-plans without refresh to prove the next plan is
// clean for the address.
func (r *run) settle(ctx context.Context, values map[string]any, marks [][]statefile.Step, manifest bool, owners map[string]events.Attribution, liveObj map[string]any) error {
	ws, req := r.ws, r.req
	if err := r.put(ctx, values, nil); err != nil {
		return err
	}
	for k := range values {
		r.out.Settled = append(r.out.Settled, k)
	}
	sort.Strings(r.out.Settled)
	if manifest {
		// The provider fingerprints the live values of the YAML's fields;
		// with the configuration's YAML in the state, a refresh (GET only)
		// records that fingerprint, and the state then says what an apply
		// of this configuration would have recorded: the fields match
		// (compareManifest checked them).
		rctx, cancel := r.e.bounded(ctx)
		err := ws.TF.Refresh(rctx, []string{req.Address}, !ws.Lockfile)
		cancel()
		if err != nil {
			return err
		}
		cur, err := ws.State.Current(ctx)
		if err != nil {
			return err
		}
		r.out.After = cur
		attrs, err := statefile.Attributes(cur.Body, req.Address)
		if err != nil {
			return err
		}
		if err := r.put(ctx, map[string]any{"yaml_incluster": attrs["live_manifest_incluster"]}, nil); err != nil {
			return err
		}
		r.out.Settled = append(r.out.Settled, "yaml_incluster")
	}
	r.e.step("settled")
	if !manifest && len(marks) == 0 && terraformOnly(req.Address, values) {
		// Only attributes that no API request carries were set, each to
		// the value the plan wanted: Terraform compares them as plain
		// values, so the next plan of the address is a no-op without
		// asking the tool again (the planner's next plan, or the
		// bootstrap's final plan, shows it).
		return nil
	}
	clean, res, err := r.settled(ctx, owners, liveObj)
	if err != nil || clean {
		return err
	}
	if len(marks) > 0 {
		// Terraform 1.5 also plans an update when the state's sensitivity
		// marks differ from the configuration's (OpenTofu 1.10 does not):
		// record the configuration's marks, as an apply would, and ask
		// again.
		if err := r.put(ctx, nil, marks); err != nil {
			return err
		}
		r.out.Settled = append(r.out.Settled, "sensitive_attributes")
		if clean, res, err = r.settled(ctx, owners, liveObj); err != nil || clean {
			return err
		}
	}
	lines := append(res.Blocking, fmt.Sprintf("%s: still plans %v after settling %v", req.Address, res.Actions, r.out.Settled))
	return &blockedError{lines: lines}
}

// settled plans the address against the state as it is (no refresh) and
// reports whether the plan leaves it alone (or changes only ignored fields).
func (r *run) settled(ctx context.Context, owners map[string]events.Attribution, liveObj map[string]any) (bool, verify.Result, error) {
	pctx, cancel := r.e.bounded(ctx)
	p, err := r.ws.TF.PlanJSON(pctx, tofu.PlanOptions{Targets: []string{r.req.Address}, NoRefresh: true})
	cancel()
	if err != nil {
		return false, verify.Result{}, err
	}
	res := r.check(p, owners, liveObj)
	return res.NoOp() || (res.OK() && len(res.Settle) == 0 && len(res.Ignored) > 0), res, nil
}

// terraformOnly reports whether every attribute in values is Terraform-only
// for the address's resource type.
func terraformOnly(address string, values map[string]any) bool {
	ad, err := statefile.ParseAddress(address)
	if err != nil {
		return false
	}
	for k := range values {
		if tfkube.ClassifyAttr(ad.Type, tfkube.Path{k}).Kind != tfkube.AttrTerraform {
			return false
		}
	}
	return true
}

// rawValues returns values as raw state stores them: a dynamic-typed
// attribute (kubernetes_manifest's manifest) as {"value", "type"}.
func rawValues(address string, values map[string]any) map[string]any {
	ad, err := statefile.ParseAddress(address)
	if err != nil {
		return values
	}
	out := make(map[string]any, len(values))
	for k, v := range values {
		if tfkube.DynamicAttr(ad.Type, k) && v != nil {
			v = tfkube.Dynamic(v)
		}
		out[k] = v
	}
	return out
}

// put writes values into the state instance the import created, as a new
// version replacing exactly r.out.After, and journals it.
func (r *run) put(ctx context.Context, values map[string]any, marks [][]statefile.Step) error {
	values = rawValues(r.req.Address, values)
	body, err := statefile.SetInstance(r.out.After.Body, r.req.Address, values, marks)
	if err != nil {
		return err
	}
	nv, err := r.ws.State.Put(ctx, body, r.out.After)
	if err != nil {
		return err
	}
	r.out.After = nv
	r.entry.Step, r.entry.After = StepSettle, meta(nv)
	return r.ws.Journal.Save(ctx, r.entry)
}

// compareManifest compares a kubectl_manifest's YAML with the live object.
func (r *run) compareManifest(ctx context.Context, m *verify.Manifest, _ map[string]events.Attribution) (blocking, ignored []string, err error) {
	snap, err := r.ws.Live.Snapshot(ctx, r.req.Object)
	if err != nil {
		return nil, nil, err
	}
	return ManifestDiff(r.req.Address, r.req.Object, m, snap, r.ws.Ignore)
}

// ManifestDiff compares the fields a kubectl_manifest's YAML sets with the
// live object: differences in fields an ignore rule covers are ignored, the
// others block — the YAML sets every one of them, so a controller owning
// one does not make it ignorable (tfkube.IgnoreReason) (one line each, Secret values and
// sensitive_fields redacted).
func ManifestDiff(address string, o events.ObjectRef, m *verify.Manifest, snap live.Snapshot, rules []config.IgnoreRule) (blocking, ignored []string, err error) {
	var obj map[string]any
	if snap.Exists {
		obj = snap.Object
	}
	to := tfkube.Object{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Resource: snap.Resource}
	return verify.ManifestDiff(address, to, m, obj, snap.FieldOwners, rules)
}

type blockedError struct{ lines []string }

func (b *blockedError) Error() string { return strings.Join(b.lines, "; ") }

// undo restores the remembered state version's content if the state
// changed, at a serial above the current one (a serial never goes back).
func (r *run) undo(ctx context.Context, step, reason string, diff []string) (Outcome, error) {
	r.out.Diff = diff
	ws := r.ws
	done := r.timed(StepRollback)
	defer done()
	rctx := context.WithoutCancel(ctx)
	cur, err := ws.State.Current(rctx)
	if err != nil {
		return Outcome{}, err
	}
	before, err := r.beforeVersion(rctx)
	if err != nil {
		return Outcome{}, err
	}
	if sameVersion(cur, before) {
		if err := ws.Journal.Clear(rctx); err != nil {
			return Outcome{}, err
		}
		return r.finish(Failed, step, reason), nil
	}
	if r.out.After.Exists && !sameVersion(cur, r.out.After) {
		_ = ws.Journal.Clear(rctx)
		return r.finish(Failed, StepRollback, fmt.Sprintf("%s; and the state was written by someone else (version %s) after our import: not rolled back, review it", reason, cur)), nil
	}
	restored, err := ws.State.Restore(rctx, before, cur)
	if err != nil {
		return r.finish(Failed, StepRollback, fmt.Sprintf("%s; restoring state version %s failed: %v", reason, before, err)), nil
	}
	r.out.After = restored
	if err := ws.Journal.Clear(rctx); err != nil {
		return Outcome{}, err
	}
	r.e.log().Warn("import rolled back", "workspace", ws.Name, "request", r.req.ID, "step", step, "reason", reason,
		"restored", before.String(), "as", restored.String())
	r.e.step(StepRollback)
	return r.finish(RolledBack, step, reason), nil
}

// beforeVersion returns the remembered version with its content.
func (r *run) beforeVersion(ctx context.Context) (tofu.Version, error) {
	b := r.entry.Before
	if !b.Exists {
		return b, nil
	}
	if r.out.Before.Exists && r.out.Before.ID == b.ID && r.out.Before.Body != nil {
		return r.out.Before, nil
	}
	return r.ws.State.Get(ctx, b.ID)
}

func (r *run) preflight(ctx context.Context) (live.Snapshot, tofu.Version, error) {
	req, ws := r.req, r.ws
	if err := CheckImportID(req); err != nil {
		return live.Snapshot{}, tofu.Version{}, err
	}
	if r.e.Preflight != nil {
		if err := r.e.Preflight(ctx, req); err != nil {
			return live.Snapshot{}, tofu.Version{}, err
		}
	}
	snap, err := ws.Live.Snapshot(ctx, req.Object)
	if err != nil {
		return snap, tofu.Version{}, err
	}
	switch {
	case !snap.Exists:
		return snap, tofu.Version{}, fmt.Errorf("stale request: %s no longer exists live", req.Object.String())
	case req.Object.UID != "" && snap.UID != req.Object.UID:
		return snap, tofu.Version{}, fmt.Errorf("stale request: %s was deleted and recreated (uid %s, the request is for %s)",
			req.Object.String(), snap.UID, req.Object.UID)
	}
	cur, err := r.checkState(ctx)
	return snap, cur, err
}

// checkState reads the current state and checks that it is the one the
// request was made against (or moved only by our own imports since), and
// that the address is not in it yet.
func (r *run) checkState(ctx context.Context) (tofu.Version, error) {
	req, ws := r.req, r.ws
	cur, err := ws.State.Current(ctx)
	if err != nil {
		return cur, err
	}
	if cur.Serial != req.StateSerial {
		moves, err := ws.Journal.Moves(ctx)
		if err != nil {
			return cur, err
		}
		s, seen := req.StateSerial, map[int64]bool{}
		for s != cur.Serial && !seen[s] {
			seen[s] = true
			next, ok := moves[s]
			if !ok {
				break
			}
			s = next
		}
		if s != cur.Serial {
			return cur, fmt.Errorf("stale request: the state serial moved from %d to %d since the finding (not by driftgate imports); waiting for a fresh plan",
				req.StateSerial, cur.Serial)
		}
	}
	if cur.Exists && len(cur.Body) > 0 {
		has, err := statefile.Has(cur.Body, req.Address)
		if err != nil {
			return cur, err
		}
		if has {
			return cur, fmt.Errorf("%s is already in the state (serial %d)", req.Address, cur.Serial)
		}
	}
	return cur, nil
}

func (r *run) importWithRetry(ctx context.Context) error {
	deadline := time.Now().Add(r.e.lockWait())
	backoff, waited := time.Second, false
	for {
		ictx, cancel := r.e.bounded(ctx)
		err := r.ws.TF.Import(ictx, r.req.Address, r.req.ImportID, !r.ws.Lockfile)
		cancel()
		if err == nil {
			if waited && r.e.OnLockWait != nil {
				r.e.OnLockWait(r.ws.Name, false, "")
			}
			return nil
		}
		var le *tofu.LockedError
		if !errors.As(err, &le) {
			return err
		}
		if !waited && r.e.OnLockWait != nil {
			r.e.OnLockWait(r.ws.Name, true, le.Error())
		}
		waited = true
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("the state lock was held for longer than %s (%s); not forced", r.e.lockWait(), le.Error())
		}
		r.e.log().Info("state locked; waiting", "workspace", r.ws.Name, "holder", le.Error(), "retry_in", backoff)
		if err := r.e.wait(ctx, backoff); err != nil {
			return err
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

// acquire takes the S3 lock object, waiting with backoff while someone else
// holds it, up to LockWait. It never breaks a lock.
func (r *run) acquire(ctx context.Context) (*tofu.Lock, error) {
	deadline := time.Now().Add(r.e.lockWait())
	backoff, waited := time.Second, false
	for {
		l, err := r.ws.State.Lock(ctx, "driftgate-import", r.e.Who, r.req.ID+" "+r.req.Address)
		if err == nil {
			if waited && r.e.OnLockWait != nil {
				r.e.OnLockWait(r.ws.Name, false, "")
			}
			return l, nil
		}
		var le *tofu.LockedError
		if !errors.As(err, &le) {
			return nil, err
		}
		if !waited && r.e.OnLockWait != nil {
			r.e.OnLockWait(r.ws.Name, true, le.Error())
		}
		waited = true
		if time.Now().Add(backoff).After(deadline) {
			return nil, fmt.Errorf("the state lock was held for longer than %s (%s); not forced", r.e.lockWait(), le.Error())
		}
		r.e.log().Info("state locked; waiting", "workspace", r.ws.Name, "holder", le.Error(), "retry_in", backoff)
		if err := r.e.wait(ctx, backoff); err != nil {
			return nil, err
		}
		backoff = min(backoff*2, 15*time.Second)
	}
}

func (r *run) unlock() {
	if r.lock == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.lock.Unlock(ctx); err != nil {
		r.e.log().Error("releasing the state lock failed", "workspace", r.ws.Name, "err", err)
	}
}

// meta is v without its content, for the journal.
func meta(v tofu.Version) tofu.Version {
	v.Body = nil
	return v
}

func sameVersion(a, b tofu.Version) bool {
	if !a.Exists || !b.Exists {
		return a.Exists == b.Exists
	}
	return a.ID == b.ID
}

// CheckImportID checks that the request's import ID is the well-formed ID of
// its object for the address's resource type: exactly what tfkube computes.
func CheckImportID(req Request) error {
	ad, err := statefile.ParseAddress(req.Address)
	if err != nil {
		return err
	}
	if !tfkube.Supported(ad.Type) {
		return fmt.Errorf("%s: %s is not a Kubernetes resource type driftgate imports", req.Address, ad.Type)
	}
	o := req.Object
	want, err := tfkube.ImportID(ad.Type, tfkube.Object{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
	if err != nil {
		return fmt.Errorf("%s: %w", req.Address, err)
	}
	if req.ImportID != want {
		return fmt.Errorf("import ID %q is not well-formed: %s of %s imports as %q", req.ImportID, ad.Type, o.String(), want)
	}
	return nil
}
