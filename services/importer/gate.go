package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
)

// handle turns findings into requests: every unimported finding becomes an
// import request (once per finding, object and state serial), decided at
// once by an auto policy; a finding resolved before approval withdraws its
// pending request.
func (s *Service) handle(ctx context.Context, _ cloudevents.Event, d events.Data) events.Result {
	switch d := d.(type) {
	case *events.DriftDetected:
		if err := s.request(ctx, d); err != nil {
			return events.Nak(5*time.Second, err.Error())
		}
	case *events.DriftResolved:
		if err := s.withdraw(ctx, d); err != nil {
			return events.Nak(5*time.Second, err.Error())
		}
	}
	return events.Ack()
}

func (s *Service) request(ctx context.Context, d *events.DriftDetected) error {
	f := d.Finding
	if f.Class != events.ClassUnimported || f.State == events.StateResolved {
		return nil
	}
	w, err := s.cfg.Workspace(f.Workspace)
	if err != nil {
		return nil // not a workspace of this config
	}
	if f.ImportID == "" {
		s.log.Warn("unimported finding without an import id; not requested", "finding", f.ID, "address", f.Address)
		return nil
	}
	serial := d.StateSerial
	if serial == 0 {
		// The planner did not say which state it read: take the current one.
		ws, err := s.workspace(ctx, f.Workspace)
		if err != nil {
			return err
		}
		cur, err := ws.State.Current(ctx)
		if err != nil {
			return err
		}
		serial = cur.Serial
	}
	prev, err := s.reqs.forFinding(ctx, f.Workspace, f.ID)
	if err != nil {
		return err
	}
	if prev != nil && prev.Object.UID == f.Object.UID && prev.Revision != d.Revision && prev.Revision != "" && d.Revision != "" {
		// Judged again on a new configuration revision: a request still
		// waiting (pending or approved) is stale, and is replaced by one
		// for the new revision.
		if prev.Status == StatusPending || prev.Status == StatusApproved {
			if _, err := s.reject(ctx, prev.Workspace, prev.ID, s.ownDecision(prev.ID, VerbReject, "driftgate",
				staleReason(prev.Revision, d.Revision))); err != nil {
				return err
			}
		} else if !Terminal(prev.Status) {
			return nil // running: its outcome comes first
		}
		prev = nil
	}
	if prev != nil && prev.Object.UID == f.Object.UID {
		switch {
		case !Terminal(prev.Status):
			return nil // in progress
		case prev.Status == StatusRejected:
			return nil // a rejection stands for this object
		case prev.StateSerial == serial:
			return nil // same state, same object: no automatic retry
		}
	}
	policy := w.Import.Approval
	if policy == "" {
		policy = config.ApprovalManual
	}
	now := time.Now().UTC()
	rec := &RequestRecord{
		ID: RequestIDAt(f.ID, f.Object.UID, serial, d.Revision), Workspace: f.Workspace, FindingID: f.ID, Address: f.Address,
		ImportID: f.ImportID, Object: f.Object, Risk: f.Risk, Policy: policy, StateSerial: serial, Revision: d.Revision,
		Status: StatusPending, CreatedAt: now, UpdatedAt: now,
	}
	created, err := s.reqs.create(ctx, rec)
	if err != nil || !created {
		return err
	}
	s.publish(ctx, requestEvent(rec, events.ImportRequested))
	s.log.Info("import requested", "request", rec.ID, "workspace", rec.Workspace, "address", rec.Address, "risk", rec.Risk, "policy", policy)
	switch {
	case policy == config.ApprovalAuto,
		policy == config.ApprovalAutoLowRisk && rec.Risk == events.RiskLow:
		if s.token == "" {
			// A policy approval is a decision the importer signs with the
			// approver token, so that the executor can verify it like any
			// other; without the token there is none.
			s.log.Warn("import policy approval needs the approver token; the request waits", "request", rec.ID,
				"workspace", rec.Workspace, "policy", policy)
			return nil
		}
		_, err := s.approve(ctx, rec.Workspace, rec.ID, s.ownDecision(rec.ID, VerbApprove, "policy:"+policy, "approved by the workspace's import policy"))
		return err
	}
	return nil
}

func (s *Service) withdraw(ctx context.Context, d *events.DriftResolved) error {
	f := d.Finding
	if f.Class != events.ClassUnimported {
		return nil
	}
	prev, err := s.reqs.forFinding(ctx, f.Workspace, f.ID)
	if err != nil || prev == nil || prev.Status != StatusPending {
		return err
	}
	_, err = s.reject(ctx, prev.Workspace, prev.ID, s.ownDecision(prev.ID, VerbReject, "driftgate",
		"the finding was resolved before approval (plan "+d.PlanID+")"))
	return err
}

// approve moves a pending request to approved on d — a person's decision
// the decide path verified, or the importer's own signed policy decision —
// keeps d with the record, sealed to it, and publishes the decision.
func (s *Service) approve(ctx context.Context, ws, id string, d Decision) (*RequestRecord, error) {
	already := false
	rec, err := s.reqs.update(ctx, ws, id, func(r *RequestRecord) error {
		switch r.Status {
		case StatusPending:
			r.Status = StatusApproved
			takeDecision(r, d, s.token)
			return nil
		case StatusApproved, StatusRunning, StatusSucceeded:
			already = true
			return errAlready
		}
		return fmt.Errorf("request %s is %s: it cannot be approved", id, r.Status)
	})
	if already {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	if err := s.announce(ctx, rec); err != nil {
		// The executor publishes it before it starts the import.
		s.log.Error("publish import event", "verb", events.ImportApproved, "request", id, "err", err)
	}
	s.log.Info("import approved", "request", id, "by", d.By)
	s.poke(ws)
	return rec, nil
}

// announce publishes the import.approved event of rec's decision and marks
// the record: an import starts only after its approval is in the stream.
// The event's id is the same however often it is published (approve, then
// the executor), so the stream's duplicate window keeps one.
func (s *Service) announce(ctx context.Context, rec *RequestRecord) error {
	d := rec.Decision
	if d == nil {
		return fmt.Errorf("request %s holds no decision to announce", rec.ID)
	}
	e := requestEvent(rec, events.ImportApproved)
	e.By, e.Reason = d.By, d.Reason
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.pub.Publish(pctx, e); err != nil {
		return err
	}
	_, err := s.reqs.update(ctx, rec.Workspace, rec.ID, func(r *RequestRecord) error {
		if r.Announced || r.Decision == nil || r.Decision.Signature != d.Signature {
			return errAlready
		}
		r.Announced = true
		return nil
	})
	if err != nil && !errors.Is(err, errAlready) {
		return err
	}
	return nil
}

// reject moves a pending or approved request to rejected on d and publishes
// the decision.
func (s *Service) reject(ctx context.Context, ws, id string, d Decision) (*RequestRecord, error) {
	already := false
	by, reason := d.By, d.Reason
	rec, err := s.reqs.update(ctx, ws, id, func(r *RequestRecord) error {
		switch r.Status {
		case StatusPending, StatusApproved:
			r.Status = StatusRejected
			takeDecision(r, d, s.token)
			return nil
		case StatusRejected:
			already = true
			return errAlready
		}
		return fmt.Errorf("request %s is %s: it cannot be rejected", id, r.Status)
	})
	if already {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	e := requestEvent(rec, events.ImportRejected)
	e.By, e.Reason = by, reason
	s.publish(ctx, e)
	s.log.Info("import rejected", "request", id, "by", by, "reason", reason)
	s.poke(ws)
	return rec, nil
}

var errAlready = errors.New("already decided")

// decide answers a decision request (driftgate approve/reject): only a
// decision signed with the approver token is taken; a refusal is logged and
// answered, never published as a decision.
func (s *Service) decide(m *nats.Msg) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reply := func(r DecisionReply) {
		b, _ := json.Marshal(r)
		if err := m.Respond(b); err != nil {
			s.log.Warn("decision reply", "err", err)
		}
	}
	var d Decision
	if err := json.Unmarshal(m.Data, &d); err != nil {
		reply(DecisionReply{Error: "the decision does not parse: " + err.Error()})
		return
	}
	if err := d.Validate(); err != nil {
		reply(DecisionReply{Error: err.Error()})
		return
	}
	if err := d.Verify(s.token, time.Now()); err != nil {
		s.log.Warn("decision refused", "id", d.ID, "verb", d.Verb, "by", d.By, "err", err)
		reply(DecisionReply{Error: "refused: " + err.Error()})
		return
	}
	rec, err := s.reqs.find(ctx, d.ID)
	if err != nil {
		reply(DecisionReply{Error: err.Error()})
		return
	}
	if d.Verb == VerbApprove {
		rec, err = s.approve(ctx, rec.Workspace, rec.ID, d)
	} else {
		rec, err = s.reject(ctx, rec.Workspace, rec.ID, d)
	}
	if err != nil {
		reply(DecisionReply{Error: err.Error(), Request: rec})
		return
	}
	reply(DecisionReply{OK: true, Request: rec})
}
