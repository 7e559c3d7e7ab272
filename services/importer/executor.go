package importer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/services/importer/internal/statefile"
)

// execLoop carries out approved requests: at start (recovering journals a
// crash left), after every decision, and every rescan interval.
func (s *Service) execLoop(ctx context.Context) error {
	every := rescan
	if s.hooks.rescan > 0 {
		every = s.hooks.rescan
	}
	t := time.NewTicker(every)
	defer t.Stop()
	s.drainAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ws := <-s.kick:
			s.drain(ctx, ws)
		case <-t.C:
			s.drainAll(ctx)
		}
	}
}

func (s *Service) drainAll(ctx context.Context) {
	for _, w := range s.cfg.Workspaces {
		if ctx.Err() != nil {
			return
		}
		s.drain(ctx, w.Name)
	}
	if s.hooks.afterPass != nil {
		s.hooks.afterPass()
	}
}

// drain runs the workspace's approved requests one at a time under the
// workspace lease, after finishing or rolling back an interrupted one.
func (s *Service) drain(ctx context.Context, ws string) {
	recs, err := s.reqs.list(ctx, ws)
	if err != nil {
		s.log.Error("list requests", "workspace", ws, "err", err)
		return
	}
	// An interrupted import left a journal: recovery has work. Whether the
	// journal is to be believed is judged under the lease (checkJournal).
	interrupted := true
	if _, err := s.d.Buckets.State.Get(ctx, journalKey(ws)); errors.Is(err, jetstream.ErrKeyNotFound) {
		interrupted = false
	} else if err != nil {
		s.log.Error("load journal", "workspace", ws, "err", err)
		return
	}
	// A status the importer cannot back with a decision it verifies is
	// refused here, before the workspace is even opened, and again right
	// before each import (runOne).
	if s.token != "" {
		for _, r := range recs {
			if (r.Status == StatusApproved || r.Status == StatusRunning) && verifyApproval(r, s.token) != nil {
				if err := s.refuse(ctx, r); err != nil {
					s.log.Error("refuse request", "workspace", ws, "request", r.ID, "err", err)
					return
				}
			}
		}
		if recs, err = s.reqs.list(ctx, ws); err != nil {
			s.log.Error("list requests", "workspace", ws, "err", err)
			return
		}
	}
	if !interrupted && !hasWork(recs) {
		return
	}
	err = events.WithLease(ctx, s.d.Buckets.Leases, "importer/"+ws, s.holder, LeaseTTL, func(lctx context.Context) error {
		w, err := s.workspace(lctx, ws)
		s.reportInit(ws, err)
		if err != nil {
			return err
		}
		if trusted, err := s.checkJournal(lctx, ws); err != nil {
			return fmt.Errorf("check journal: %w", err)
		} else if !trusted {
			return nil
		}
		if out, err := s.engine.Recover(lctx, w); err != nil {
			return fmt.Errorf("recover: %w", err)
		} else if out != nil {
			rec, _, _ := s.reqs.get(lctx, ws, out.Request.ID)
			attempt := 1
			if rec != nil {
				attempt = rec.Attempts
			}
			s.finish(lctx, *out, attempt)
		}
		for {
			recs, err := s.reqs.list(lctx, ws)
			if err != nil {
				return err
			}
			if s.token == "" {
				if hasWork(recs) {
					s.log.Warn("approved imports wait: the importer has no approver token to verify their decisions with", "workspace", ws)
				}
				return nil
			}
			next, why := pick(recs)
			if next == nil {
				if why != "" {
					s.log.Info("approved imports wait", "workspace", ws, "reason", why)
				}
				return nil
			}
			if err := s.runOne(lctx, w, next); err != nil {
				return err
			}
		}
	})
	switch {
	case err == nil, errors.Is(err, context.Canceled):
	case errors.Is(err, events.ErrLeaseHeld):
		s.log.Debug("workspace busy with another importer", "workspace", ws, "err", err)
	default:
		s.log.Error("import run", "workspace", ws, "err", err)
	}
}

// reportInit publishes cluster.health InitFailed when a workspace cannot be
// opened (working copy, init, S3, cluster), and its recovery; once per
// transition.
func (s *Service) reportInit(ws string, err error) {
	s.mu.Lock()
	prev, seen := s.initFailed[ws]
	failed := err != nil
	s.initFailed[ws] = failed
	s.mu.Unlock()
	if prev == failed && (seen || !failed) {
		return
	}
	w, cerr := s.cfg.Workspace(ws)
	if cerr != nil {
		return
	}
	now := time.Now().UTC()
	h := &events.ClusterHealth{Cluster: w.Cluster, Component: events.ComponentImporter, Condition: "InitFailed",
		Status: "False", Severity: events.SeverityInfo, WS: ws, Since: now, ObservedAt: now, Message: "the workspace is ready for imports"}
	if failed {
		h.Status, h.Severity, h.Reason, h.Message = "True", events.SeverityWarning, "WorkspaceUnavailable", err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.pub.Publish(ctx, h); err != nil {
		s.log.Warn("publish init report", "err", err)
	}
}

func hasWork(recs []*RequestRecord) bool {
	for _, r := range recs {
		if r.Status == StatusApproved || r.Status == StatusRunning {
			return true
		}
	}
	return false
}

// pick chooses the next request to run: stateful objects first, then the
// other high-risk ones, each alone, then the rest, oldest first. Low-risk requests wait while a high-risk one
// of the workspace is still undecided, so the stateful object goes first.
func pick(recs []*RequestRecord) (*RequestRecord, string) {
	var ready []*RequestRecord
	var undecidedHigh *RequestRecord
	for _, r := range recs {
		switch {
		case r.Status == StatusApproved || r.Status == StatusRunning:
			ready = append(ready, r)
		case r.Status == StatusPending && r.Risk == events.RiskHigh && undecidedHigh == nil:
			undecidedHigh = r
		}
	}
	if len(ready) == 0 {
		return nil, ""
	}
	sort.SliceStable(ready, func(i, j int) bool {
		ri, rj := rank(ready[i].Object, ready[i].Risk), rank(ready[j].Object, ready[j].Risk)
		if ri != rj {
			return ri < rj
		}
		return ready[i].CreatedAt.Before(ready[j].CreatedAt)
	})
	if ready[0].Risk != events.RiskHigh && undecidedHigh != nil {
		return nil, fmt.Sprintf("high-risk request %s (%s) goes first: approve or reject it", undecidedHigh.ID, undecidedHigh.Address)
	}
	return ready[0], ""
}

// runOne carries out one request and records its outcome — only when the
// record holds a decision the importer verifies now, with its approver
// token; any other record is refused (refuse). The import.approved event is
// in the stream before import.started.
func (s *Service) runOne(ctx context.Context, w *execute.Workspace, rec *RequestRecord) error {
	if verifyApproval(rec, s.token) != nil {
		return s.refuse(ctx, rec)
	}
	if rec.Status == StatusRunning {
		// Running without a journal: the last attempt ended before the
		// state could change, or after its commit but before this record
		// was updated.
		cur, err := w.State.Current(ctx)
		if err != nil {
			return err
		}
		if has, _ := statefile.Has(cur.Body, rec.Address); has {
			moves, _ := w.Journal.Moves(ctx)
			for _, to := range moves {
				if to == cur.Serial {
					s.finish(ctx, execute.Outcome{Request: execRequest(rec), Status: execute.Succeeded, Step: execute.StepDone,
						Reason: "completed before a restart", After: cur}, rec.Attempts)
					return nil
				}
			}
		}
	}
	if rec.Status == StatusApproved {
		// Judged on another configuration revision: the plan it rests on
		// is not the one an import would verify against.
		why, err := s.staleRevision(ctx, rec)
		if err != nil {
			return err
		}
		if why != "" {
			return s.refuseStale(ctx, rec, why)
		}
		s.mu.Lock()
		opened := s.openedRev[rec.Workspace]
		s.mu.Unlock()
		if opened != "" && opened != rec.Revision {
			return fmt.Errorf("import %s: the workspace is open at revision %s, the request is for %s: reopened on the next pass",
				rec.ID, opened, rec.Revision)
		}
	}
	if !rec.Announced {
		if err := s.announce(ctx, rec); err != nil {
			return fmt.Errorf("import %s: its approval is not in the stream yet: %w", rec.ID, err)
		}
	}
	// What runs is the record verified in this compare-and-set, not the
	// one read before: a change in between is verified again.
	unverified := false
	claimed, err := s.reqs.update(ctx, rec.Workspace, rec.ID, func(r *RequestRecord) error {
		if r.Status != StatusApproved && r.Status != StatusRunning {
			return fmt.Errorf("request %s is %s", r.ID, r.Status)
		}
		if err := verifyApproval(r, s.token); err != nil {
			unverified = true
			return err
		}
		r.Status = StatusRunning
		r.Attempts++
		r.Announced = true
		return nil
	})
	if unverified {
		return s.refuse(ctx, claimed)
	}
	if err != nil {
		return err
	}
	rec = claimed
	started := requestEvent(rec, events.ImportStarted)
	started.Attempt, started.By = rec.Attempts, rec.Decision.By
	s.publish(ctx, started)
	s.log.Info("import started", "request", rec.ID, "address", rec.Address, "attempt", rec.Attempts, "by", rec.Decision.By)
	run := s.engine.Execute
	if s.hooks.execute != nil {
		run = s.hooks.execute
	}
	out, err := run(ctx, w, execRequest(rec))
	if err != nil {
		return fmt.Errorf("import %s: %w", rec.ID, err)
	}
	s.finish(ctx, out, rec.Attempts)
	return nil
}

// refuse rejects a request whose status (approved or running) no decision
// the importer verifies backs — a status someone wrote into the bucket —
// instead of carrying it out: the record becomes rejected by driftgate with
// the reason, the refusal is logged and published (import.rejected). A
// record that changed meanwhile is checked again: one that now verifies, or
// is no longer approved or running, is left alone.
func (s *Service) refuse(ctx context.Context, rec *RequestRecord) error {
	if s.token == "" {
		// Nothing can be verified, so nothing is judged either: approved
		// requests wait (drain) until the token is set.
		return fmt.Errorf("request %s: no approver token to verify its decision with", rec.ID)
	}
	var reason, claimedStatus, claimedBy string
	refused, err := s.reqs.update(ctx, rec.Workspace, rec.ID, func(r *RequestRecord) error {
		if r.Status != StatusApproved && r.Status != StatusRunning {
			return errAlready
		}
		why := verifyApproval(r, s.token)
		if why == nil {
			return errAlready
		}
		claimedStatus, claimedBy = r.Status, clip(r.By, 100)
		reason = fmt.Sprintf("refused: status %q (by %q) in KV %v", claimedStatus, claimedBy, why)
		r.Status, r.Step, r.Diff = StatusRejected, "decision", nil
		r.Attempts++
		takeDecision(r, s.ownDecision(r.ID, VerbReject, "driftgate", reason), s.token)
		return nil
	})
	if errors.Is(err, errAlready) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("refuse %s: %w", rec.ID, err)
	}
	s.log.Error("import refused: its status is not backed by a verified decision", "request", refused.ID,
		"workspace", refused.Workspace, "address", refused.Address, "status", claimedStatus, "by", claimedBy, "reason", reason)
	e := requestEvent(refused, events.ImportRejected)
	// Each refusal is its own event (the id counts attempts), also after a
	// person's rejection of the same request.
	e.By, e.Reason, e.Step, e.Attempt = "driftgate", reason, "decision", refused.Attempts
	s.publish(ctx, e)
	return nil
}

// clip shortens what a stranger wrote before it is quoted in a reason.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// finish records an outcome and publishes its event.
func (s *Service) finish(ctx context.Context, out execute.Outcome, attempt int) {
	verb, status := events.ImportFailed, StatusFailed
	switch out.Status {
	case execute.Succeeded:
		verb, status = events.ImportSucceeded, StatusSucceeded
	case execute.RolledBack:
		verb, status = events.ImportRolledBack, StatusRolledBack
	}
	req := out.Request
	rec, err := s.reqs.update(ctx, req.Workspace, req.ID, func(r *RequestRecord) error {
		r.Status, r.Step, r.Reason, r.Diff = status, out.Step, out.Reason, out.Diff
		return nil
	})
	if err != nil || rec == nil {
		s.log.Error("record outcome", "request", req.ID, "err", err)
		rec = &RequestRecord{ID: req.ID, Workspace: req.Workspace, Address: req.Address, ImportID: req.ImportID,
			Object: req.Object, Risk: req.Risk, StateSerial: req.StateSerial}
	}
	e := requestEvent(rec, verb)
	e.Attempt, e.Step, e.Reason, e.Diff = attempt, out.Step, out.Reason, out.Diff
	e.StateVersionBefore, e.StateVersionAfter = out.Before.String(), out.After.String()
	e.DurationMS = out.Duration.Milliseconds()
	if out.Status == execute.Succeeded {
		e.Step = ""
	}
	s.publish(ctx, e)
	s.log.Info("import "+out.Status, "request", req.ID, "address", req.Address, "step", out.Step, "reason", out.Reason,
		"diff", out.Diff, "duration", out.Duration, "state_before", out.Before.String(), "state_after", out.After.String())
}
