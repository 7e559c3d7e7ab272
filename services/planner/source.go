package planner

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/source"
)

// TriggerRevision: a plan.completed of a new configuration revision.
const TriggerRevision = "revision"

// Triggers of a fetch (source.updated).
const (
	FetchStartup = "startup"
	FetchPoll    = "poll"
	FetchWebhook = "webhook"
)

// gitSource is a workspace's Git source as the planner follows it: the
// planner owns the workspace's revision record.
type gitSource struct {
	git     config.GitSource
	fetcher *source.Fetcher
	tracker *source.Tracker
	now     chan string // fetch at once (a push webhook)

	cur     atomic.Pointer[checkedOut] // the revision plans use
	changed atomic.Bool                // a new revision waits for its full plan

	// Owned by the follow goroutine.
	failing     source.Kind
	failedSince time.Time
}

// checkedOut is a revision and its module dir, complete on disk.
type checkedOut struct {
	rev *source.Revision
	dir string
}

// revision is the commit plans of w run on ("" for a local dir).
func (w *workspace) revision() string {
	if w.src == nil {
		return ""
	}
	if c := w.src.cur.Load(); c != nil {
		return c.rev.Commit
	}
	return ""
}

// follow fetches the workspace's ref at start, on its interval and on a
// push, until ctx ends.
func (s *Service) follow(ctx context.Context, w *workspace) error {
	t := time.NewTicker(w.src.git.Interval.Or(config.DefaultSourceInterval))
	defer t.Stop()
	s.fetch(ctx, w, FetchStartup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.fetch(ctx, w, FetchPoll)
		case trigger := <-w.src.now:
			s.fetch(ctx, w, trigger)
		}
	}
}

// FetchNow asks every workspace whose source is the repository at url to
// fetch at once (a verified push webhook). It reports how many do.
func (s *Service) FetchNow(url string) int {
	n := 0
	for _, w := range s.workspaces {
		if w.src == nil || (w.src.git.URL != url && w.src.fetcher.URL() != url) {
			continue
		}
		select {
		case w.src.now <- FetchWebhook:
		default: // a fetch is already asked for
		}
		n++
	}
	return n
}

// fetch updates the workspace's revision: a new commit checked out whole
// becomes the one plans use, announced with source.updated, and calls for
// a full plan. A failure keeps the last good revision and is reported once
// (cluster.health source FetchFailed), its recovery too.
func (s *Service) fetch(ctx context.Context, w *workspace, trigger string) {
	src := w.src
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, changed, err := src.tracker.Update(fctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		s.reportSource(ctx, w, err)
		if src.cur.Load() == nil {
			// Resumed from the record at least? Plans wait for a revision.
			if rev, dir := src.tracker.Current(); rev != nil {
				src.cur.Store(&checkedOut{rev: rev, dir: dir})
				w.poke()
			}
		}
		return
	}
	s.reportSourceRecovered(ctx, w)
	rev, dir := src.tracker.Current()
	if !changed && src.cur.Load() != nil {
		return
	}
	src.cur.Store(&checkedOut{rev: rev, dir: dir})
	src.changed.Store(true)
	w.log.Info("configuration revision", "commit", rev.Commit, "previous", rev.Previous, "ref", rev.Ref, "trigger", trigger)
	if changed {
		if _, err := s.pub.Publish(ctx, &events.SourceUpdated{WS: w.name, URL: rev.URL, Ref: rev.Ref, Path: rev.Path,
			Commit: rev.Commit, Previous: rev.Previous, Message: rev.Subject, Trigger: trigger,
			CommittedAt: rev.CommittedAt, At: time.Now().UTC()}); err != nil {
			w.log.Warn("publish source.updated", "err", err)
		}
	}
	s.pruneCheckouts(src.fetcher)
	w.poke()
}

// pruneCheckouts keeps, of a repository's checkouts, those in use by a
// workspace and the one each used before.
func (s *Service) pruneCheckouts(f *source.Fetcher) {
	var keep []string
	for _, w := range s.workspaces {
		if w.src == nil || w.src.fetcher != f {
			continue
		}
		if c := w.src.cur.Load(); c != nil {
			keep = append(keep, c.rev.Commit, c.rev.Previous)
		}
	}
	if err := f.Prune(keep...); err != nil {
		s.log.Warn("prune old checkouts", "repository", f.URL(), "err", err)
	}
}

func (s *Service) reportSource(ctx context.Context, w *workspace, err error) {
	kind := source.KindOf(err)
	if kind == "" {
		kind = source.KindFetch
	}
	w.log.Warn("fetch configuration", "reason", kind, "err", err, "revision", w.revision())
	src := w.src
	if src.failing != "" {
		src.failing = kind
		return // reported when it started; its recovery is reported once
	}
	now := time.Now().UTC()
	if src.failing == "" {
		src.failedSince = now
	}
	src.failing = kind
	msg := err.Error()
	if r := w.revision(); r != "" {
		msg += "; still planning revision " + source.ShortSHA(r)
	} else {
		msg += "; nothing to plan until a revision is fetched"
	}
	s.publishSourceHealth(ctx, w, &events.ClusterHealth{Condition: "FetchFailed", Status: "True", Severity: events.SeverityWarning,
		Reason: string(kind), Message: msg, Since: src.failedSince, ObservedAt: now})
}

func (s *Service) reportSourceRecovered(ctx context.Context, w *workspace) {
	src := w.src
	if src.failing == "" {
		return
	}
	now := time.Now().UTC()
	s.publishSourceHealth(ctx, w, &events.ClusterHealth{Condition: "FetchFailed", Status: "False", Severity: events.SeverityInfo,
		Reason: "Recovered", Message: "the configuration is fetched again", Since: src.failedSince,
		Duration: now.Sub(src.failedSince).Round(time.Second).String(), ObservedAt: now})
	src.failing, src.failedSince = "", time.Time{}
}

func (s *Service) publishSourceHealth(ctx context.Context, w *workspace, h *events.ClusterHealth) {
	h.Cluster, h.Component, h.WS = w.cluster, events.ComponentSource, w.name
	if h.Cluster == "" {
		h.Cluster = "default"
	}
	if _, err := s.pub.Publish(ctx, h); err != nil {
		w.log.Warn("publish cluster.health", "err", err)
	}
}

// useRevision points the runner at the checkout of the workspace's current
// revision (nothing for a local dir); called from the workspace's loop.
func (w *workspace) useRevision() error {
	if w.src == nil {
		return nil
	}
	c := w.src.cur.Load()
	if c == nil {
		return nil
	}
	w.pinned = c.rev.Commit
	return w.runner.SetDir(c.dir)
}

// subscribePushes fetches at once the repository a verified push webhook
// names (source.FetchSubject, published by whichever service's HTTP address
// received it): every planner replica follows the ref, so each fetches.
func (s *Service) subscribePushes(ctx context.Context, g *errgroup.Group) error {
	has := false
	for _, w := range s.workspaces {
		has = has || w.src != nil
	}
	if !has || s.d.Conn == nil {
		return nil
	}
	sub, err := s.d.Conn.Subscribe(source.FetchSubject, func(m *nats.Msg) {
		if n := s.FetchNow(string(m.Data)); n > 0 {
			s.log.Info("push webhook: fetching", "repository", source.SafeURL(string(m.Data)), "workspaces", n)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", source.FetchSubject, err)
	}
	g.Go(func() error {
		<-ctx.Done()
		return sub.Unsubscribe()
	})
	return nil
}

// pendingDigest counts the workspace's open pending-config findings by the
// revision that introduced them ("N changes merged at <sha> not applied
// yet"), oldest revision first; nil for a local dir.
func (s *Service) pendingDigest(ctx context.Context, w *workspace) []events.PendingConfig {
	if w.src == nil {
		return nil
	}
	open, err := s.store.List(ctx, findings.Filter{Workspace: w.name, Class: events.ClassPendingConfig, State: events.StateOpen})
	if err != nil {
		w.log.Warn("pending-config digest", "err", err)
		return w.pendingDigest
	}
	by := map[string]int{}
	first := map[string]time.Time{}
	for _, f := range open {
		by[f.Revision]++
		if t, ok := first[f.Revision]; !ok || f.FirstSeen.Before(t) {
			first[f.Revision] = f.FirstSeen
		}
	}
	out := make([]events.PendingConfig, 0, len(by))
	for r, n := range by {
		out = append(out, events.PendingConfig{Revision: r, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return first[out[i].Revision].Before(first[out[j].Revision]) })
	return out
}
