package importer

import (
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// A request's status in the state bucket is not proof of anything: whoever
// can write the bucket can write "approved". So the importer keeps, with the
// record, the signed decision it took (a person's, exactly as the decide RPC
// carried it, or its own for a policy approval, signed with the same
// approver token) and a seal binding that decision to the request's content.
// The executor checks both again, with the approver token, before it carries
// anything out (verifyApproval), and refuses a record that does not verify.

// sealVersion names the form of the seal's message; it cannot be mistaken
// for a decision's ("driftgate-decision-v1\n...").
const sealVersion = "driftgate-request-v1"

// sealed is what the seal covers: every field of the request the import
// acts on, and the decision (its verb and signature, which covers its id,
// by, reason and time). JSON makes the message unambiguous.
type sealed struct {
	V           string           `json:"v"`
	ID          string           `json:"id"`
	Workspace   string           `json:"workspace"`
	FindingID   string           `json:"finding_id"`
	Address     string           `json:"address"`
	ImportID    string           `json:"import_id"`
	Object      events.ObjectRef `json:"object"`
	Risk        string           `json:"risk"`
	Policy      string           `json:"policy"`
	StateSerial int64            `json:"state_serial"`
	Verb        string           `json:"verb"`
	Signature   string           `json:"signature"`
}

// seal is hex HMAC-SHA256(token, the sealed fields of r and its decision).
func seal(token string, r *RequestRecord, d *Decision) string {
	b, err := json.Marshal(sealed{V: sealVersion, ID: r.ID, Workspace: r.Workspace, FindingID: r.FindingID,
		Address: r.Address, ImportID: r.ImportID, Object: r.Object, Risk: r.Risk, Policy: r.Policy,
		StateSerial: r.StateSerial, Verb: d.Verb, Signature: d.Signature})
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return hex.EncodeToString(mac(token, b))
}

// takeDecision records a decision that was verified (or signed by the
// importer itself) on r: status is set by the caller; by, reason, the
// decision and its seal here. The decision's event is not published yet.
func takeDecision(r *RequestRecord, d Decision, token string) {
	r.By, r.Reason = d.By, d.Reason
	r.Decision = &d
	r.Seal = ""
	if token != "" && d.Signature != "" {
		r.Seal = seal(token, r, &d)
	}
	r.Announced = false
}

// ownDecision is a decision the importer takes itself (a policy approval, a
// withdrawal, a refusal), signed with the approver token when it has one.
func (s *Service) ownDecision(id, verb, by, reason string) Decision {
	d := Decision{ID: id, Verb: verb, By: by, Reason: reason}
	if s.token != "" {
		d.Sign(s.token, time.Now())
	} else {
		d.Timestamp = time.Now().Unix()
	}
	return d
}

// errUnverified is what verifyApproval's errors wrap.
var errUnverified = errors.New("not backed by a verified decision")

// verifyApproval checks that r may be carried out: it holds an approval
// signed with the approver token, for this request (by its id or its
// finding's id), naming who the record names, sealed by the importer to
// exactly this request's content. Wrong key, altered fields, a decision of
// another request or a rejection all fail.
//
// The decision's age is not checked here. The decide path refused it unless
// it was signed within MaxDecisionSkew; the seal shows the importer took it
// then. Execution can come much later (waiting for the state lock, for the
// high-risk request to go first, across restarts), and a request approved
// an hour ago is still approved. A decision copied onto another request
// fails on its id or on the seal.
//
// What this does not stop: a bucket writer who puts back an earlier revision
// of the same record (KV keeps history) replays an approval that really was
// given, for exactly the request it was given for; the preflight refuses it
// once the import succeeded (the address is in the state). Keeping strangers
// from writing the bucket at all is NATS's part (closed by default, per-service
// users).
func verifyApproval(r *RequestRecord, token string) error {
	d := r.Decision
	switch {
	case token == "":
		return fmt.Errorf("%w: the importer has no approver token to verify it with", errUnverified)
	case d == nil:
		return fmt.Errorf("%w: the record holds no signed decision", errUnverified)
	}
	if err := d.VerifySignature(token); err != nil {
		return fmt.Errorf("%w: decision signature invalid: %v", errUnverified, err)
	}
	switch {
	case d.Verb != VerbApprove:
		return fmt.Errorf("%w: the decision is %q, not %q", errUnverified, clip(d.Verb, 20), VerbApprove)
	case d.ID != r.ID && (r.FindingID == "" || d.ID != r.FindingID):
		return fmt.Errorf("%w: the decision is for %s, not for request %s (finding %s)", errUnverified, clip(d.ID, 100), clip(r.ID, 100), clip(r.FindingID, 100))
	case d.By != r.By:
		return fmt.Errorf("%w: the record names %q, its decision %q", errUnverified, clip(r.By, 100), clip(d.By, 100))
	case r.Seal == "":
		return fmt.Errorf("%w: the decision is not sealed to the request", errUnverified)
	}
	got, err := hex.DecodeString(r.Seal)
	if err != nil {
		return fmt.Errorf("%w: malformed seal", errUnverified)
	}
	want, _ := hex.DecodeString(seal(token, r, d))
	if !hmac.Equal(got, want) {
		return fmt.Errorf("%w: the request does not match what was approved (seal mismatch: altered, or sealed with another token)", errUnverified)
	}
	return nil
}
