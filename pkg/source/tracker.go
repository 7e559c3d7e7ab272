package source

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/config"
)

// Tracker follows one workspace's ref for the service that owns the
// workspace's revision record (the planner): Update fetches, and only once
// a new commit is checked out whole does it become current and recorded.
// A failed update keeps the current revision.
type Tracker struct {
	workspace string
	git       config.GitSource
	f         *Fetcher
	kv        jetstream.KeyValue

	mu  sync.Mutex
	cur *Revision
	dir string
}

// NewTracker tracks g for workspace with fetcher f, recording in kv.
func NewTracker(workspace string, g config.GitSource, f *Fetcher, kv jetstream.KeyValue) *Tracker {
	return &Tracker{workspace: workspace, git: g, f: f, kv: kv}
}

// Current is the revision in use and its module dir (nil before the first
// successful Update).
func (t *Tracker) Current() (*Revision, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		return nil, ""
	}
	c := *t.cur
	return &c, t.dir
}

// Update fetches the ref. It reports whether the current revision changed;
// on error the current revision (if any) stays, and the failure is kept in
// the record.
func (t *Tracker) Update(ctx context.Context) (*Revision, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur == nil {
		t.resume(ctx)
	}
	rev, changed, err := t.update(ctx)
	if err != nil {
		t.recordFailure(ctx, err)
		return nil, false, err
	}
	return rev, changed, nil
}

// resume takes up the recorded revision after a restart, when its checkout
// can be had, so the last good revision stays in use if the ref cannot be
// fetched now.
func (t *Tracker) resume(ctx context.Context) {
	rec, err := GetRevision(ctx, t.kv, t.workspace)
	if err != nil || rec == nil || rec.URL != t.f.URL() || rec.Ref != t.git.Ref || rec.Path != t.git.Path {
		return
	}
	co, err := t.f.Checkout(ctx, t.git.Ref, rec.Commit)
	if err != nil {
		return
	}
	dir, err := ModuleDir(co, t.git.Path)
	if err != nil {
		return
	}
	t.cur, t.dir = rec, dir
}

func (t *Tracker) update(ctx context.Context) (*Revision, bool, error) {
	co, err := t.f.Fetch(ctx, t.git.Ref)
	if err != nil {
		return nil, false, err
	}
	dir, err := ModuleDir(co, t.git.Path)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.URL, e.Ref = t.f.URL(), t.git.Ref
		}
		return nil, false, err
	}
	now := time.Now().UTC()
	if t.cur != nil && t.cur.Commit == co.Commit {
		if t.cur.Failure != "" {
			t.cur.Failure, t.cur.FailureKind, t.cur.FailedSince = "", "", time.Time{}
			t.cur.FetchedAt = now
			if err := PutRevision(ctx, t.kv, t.cur); err != nil {
				return nil, false, fmt.Errorf("record revision: %w", err)
			}
		}
		c := *t.cur
		return &c, false, nil
	}
	rev := &Revision{Workspace: t.workspace, URL: t.f.URL(), Ref: t.git.Ref, Path: t.git.Path, Commit: co.Commit,
		Subject: co.Subject, CommittedAt: co.When, FetchedAt: now}
	if t.cur != nil {
		rev.Previous = t.cur.Commit
	}
	if err := PutRevision(ctx, t.kv, rev); err != nil {
		return nil, false, fmt.Errorf("record revision: %w", err)
	}
	t.cur, t.dir = rev, dir
	c := *rev
	return &c, true, nil
}

func (t *Tracker) recordFailure(ctx context.Context, err error) {
	if t.cur == nil {
		return
	}
	if t.cur.Failure == "" {
		t.cur.FailedSince = time.Now().UTC()
	}
	t.cur.Failure, t.cur.FailureKind = err.Error(), KindOf(err)
	_ = PutRevision(ctx, t.kv, t.cur)
}

// Follow returns the workspace's recorded revision and its module dir,
// checking the commit out with f when it is not on disk: how the importer
// uses exactly the revision the planner planned.
func Follow(ctx context.Context, kv jetstream.KeyValue, f *Fetcher, workspace string, g config.GitSource) (*Revision, string, error) {
	rec, err := GetRevision(ctx, kv, workspace)
	if err != nil {
		return nil, "", err
	}
	if rec == nil {
		return nil, "", fmt.Errorf("workspace %s: no configuration revision recorded yet (the planner records it once it has fetched %s)", workspace, f.URL())
	}
	co, err := f.Checkout(ctx, rec.Ref, rec.Commit)
	if err != nil {
		return nil, "", err
	}
	dir, err := ModuleDir(co, rec.Path)
	if err != nil {
		return nil, "", err
	}
	return rec, dir, nil
}
