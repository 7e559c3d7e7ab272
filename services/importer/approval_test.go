package importer

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
)

// TestVerifyApproval: the executor carries out a record only on an approval
// signed with the approver token, for this request, sealed by the importer
// to exactly this request's content.
func TestVerifyApproval(t *testing.T) {
	const tok = "s3cret"
	now := time.Now()
	newRecord := func(uid string, serial int64) *RequestRecord {
		fid := events.FindingID("shop", "kubernetes_config_map.a", events.ClassUnimported)
		return &RequestRecord{ID: RequestID(fid, uid, serial), Workspace: "shop", FindingID: fid,
			Address: "kubernetes_config_map.a", ImportID: "shop/a", Risk: events.RiskLow, Policy: config.ApprovalManual,
			Object:      events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a", UID: uid},
			StateSerial: serial, Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	}
	// approved is what approve leaves: the decision, signed with signWith
	// at at, taken by an importer whose token is sealWith.
	approved := func(r *RequestRecord, d Decision, signWith, sealWith string, at time.Time) *RequestRecord {
		d.Sign(signWith, at)
		r.Status = StatusApproved
		takeDecision(r, d, sealWith)
		return r
	}
	alice := func(id string) Decision {
		return Decision{ID: id, Verb: VerbApprove, By: "alice", Reason: "diff reviewed"}
	}
	good := func() *RequestRecord {
		r := newRecord("u-1", 7)
		return approved(r, alice(r.ID), tok, tok, now)
	}
	// The approval of the request for the same finding at an earlier serial.
	earlier := approved(newRecord("u-1", 6), alice(newRecord("u-1", 6).FindingID), tok, tok, now)
	other := func() *RequestRecord {
		r := newRecord("u-2", 7)
		r.FindingID, r.Address, r.ImportID = "f-other", "kubernetes_secret.db", "shop/db"
		r.ID = RequestID(r.FindingID, "u-2", 7)
		return approved(r, alice(r.ID), tok, tok, now)
	}()
	policy := &Service{token: tok}

	for _, c := range []struct {
		name  string
		rec   func() *RequestRecord
		token string
		want  string // "" verifies; else a part of the refusal
	}{
		{"a person's approval by request id", good, tok, ""},
		{"a person's approval by finding id", func() *RequestRecord {
			r := newRecord("u-1", 7)
			return approved(r, alice(r.FindingID), tok, tok, now)
		}, tok, ""},
		{"a policy approval the importer signed", func() *RequestRecord {
			r := newRecord("u-1", 7)
			r.Status = StatusApproved
			takeDecision(r, policy.ownDecision(r.ID, VerbApprove, "policy:auto", "approved by the workspace's import policy"), tok)
			return r
		}, tok, ""},
		{"running after a restart", func() *RequestRecord {
			r := good()
			r.Status, r.Attempts, r.Announced = StatusRunning, 1, true
			return r
		}, tok, ""},
		// Fresh when the decide path took it; execution may come much
		// later (lock waits, high-risk first, restarts).
		{"taken three hours ago", func() *RequestRecord {
			r := newRecord("u-1", 7)
			return approved(r, alice(r.ID), tok, tok, now.Add(-3*time.Hour))
		}, tok, ""},

		{"no decision (status written into KV)", func() *RequestRecord {
			r := newRecord("u-1", 7)
			r.Status, r.By = StatusApproved, "mallory"
			return r
		}, tok, "holds no signed decision"},
		{"the importer has no token", good, "", "no approver token"},
		{"unsigned decision", func() *RequestRecord {
			r := good()
			r.Decision.Signature = ""
			return r
		}, tok, "not signed"},
		{"decision and seal made with another token", func() *RequestRecord {
			r := newRecord("u-1", 7)
			return approved(r, alice(r.ID), "guess", "guess", now)
		}, tok, "decision signature invalid"},
		{"decision signed by mallory with another token, seal copied", func() *RequestRecord {
			r := good()
			d := Decision{ID: r.ID, Verb: VerbApprove, By: "mallory"}
			d.Sign("guess", now)
			r.Decision, r.By = &d, "mallory"
			return r
		}, tok, "bad signature"},
		{"sealed with another token", func() *RequestRecord {
			r := newRecord("u-1", 7)
			return approved(r, alice(r.ID), tok, "guess", now)
		}, tok, "seal mismatch"},
		{"no seal", func() *RequestRecord {
			r := good()
			r.Seal = ""
			return r
		}, tok, "not sealed"},
		{"malformed seal", func() *RequestRecord {
			r := good()
			r.Seal = "zz"
			return r
		}, tok, "malformed seal"},
		{"by altered in the record", func() *RequestRecord {
			r := good()
			r.By = "mallory"
			return r
		}, tok, `the record names "mallory", its decision "alice"`},
		{"by altered in the record and the decision", func() *RequestRecord {
			r := good()
			r.By, r.Decision.By = "mallory", "mallory"
			return r
		}, tok, "decision signature invalid"},
		{"reason altered in the decision", func() *RequestRecord {
			r := good()
			r.Decision.Reason = "approved by the CEO"
			return r
		}, tok, "decision signature invalid"},
		{"time altered in the decision", func() *RequestRecord {
			r := good()
			r.Decision.Timestamp++
			return r
		}, tok, "decision signature invalid"},
		{"verb altered in the decision", func() *RequestRecord {
			r := good()
			r.Decision.Verb = VerbReject
			return r
		}, tok, "decision signature invalid"},
		{"a rejection, status set to approved", func() *RequestRecord {
			r := newRecord("u-1", 7)
			d := Decision{ID: r.ID, Verb: VerbReject, By: "bob", Reason: "owned by Argo CD"}
			d.Sign(tok, now)
			takeDecision(r, d, tok)
			r.Status = StatusApproved
			return r
		}, tok, `the decision is "reject"`},
		{"another request's decision and seal", func() *RequestRecord {
			r := newRecord("u-1", 7)
			r.Status, r.By, r.Decision, r.Seal = StatusApproved, other.By, other.Decision, other.Seal
			return r
		}, tok, "the decision is for " + other.ID},
		{"the finding's earlier approval and seal, on a later request", func() *RequestRecord {
			r := newRecord("u-1", 7)
			r.Status, r.By, r.Decision, r.Seal = StatusApproved, earlier.By, earlier.Decision, earlier.Seal
			return r
		}, tok, "seal mismatch"},
		{"request id swapped", func() *RequestRecord {
			r := good()
			r.ID = other.ID
			return r
		}, tok, "the decision is for"},
		{"address altered", func() *RequestRecord {
			r := good()
			r.Address = "kubernetes_secret.db"
			return r
		}, tok, "seal mismatch"},
		{"import id altered", func() *RequestRecord {
			r := good()
			r.ImportID = "kube-system/admin"
			return r
		}, tok, "seal mismatch"},
		{"object altered", func() *RequestRecord {
			r := good()
			r.Object.Namespace, r.Object.UID = "kube-system", "u-9"
			return r
		}, tok, "seal mismatch"},
		{"state serial altered", func() *RequestRecord {
			r := good()
			r.StateSerial = 9
			return r
		}, tok, "seal mismatch"},
		{"risk altered", func() *RequestRecord {
			r := good()
			r.Risk = events.RiskHigh
			return r
		}, tok, "seal mismatch"},
		{"workspace altered", func() *RequestRecord {
			r := good()
			r.Workspace = "prod"
			return r
		}, tok, "seal mismatch"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Through JSON, as the record is stored.
			b, err := json.Marshal(c.rec())
			if err != nil {
				t.Fatal(err)
			}
			var r RequestRecord
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			err = verifyApproval(&r, c.token)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("verified, want refused (%s)", c.want)
			case c.want != "" && (!errors.Is(err, errUnverified) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("refused with %q, want errUnverified with %q", err, c.want)
			}
		})
	}
}

// TestDecisionVerifyKeepsItsAgeCheck: the decide path still refuses a stale
// decision; only the executor's check of a decision it took ignores age.
func TestDecisionVerifyKeepsItsAgeCheck(t *testing.T) {
	d := Decision{ID: "ir-1", Verb: VerbApprove, By: "alice"}
	d.Sign("tok", time.Now().Add(-time.Hour))
	if err := d.Verify("tok", time.Now()); !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "ago") {
		t.Errorf("stale decision at the decide path: %v", err)
	}
	if err := d.VerifySignature("tok"); err != nil {
		t.Errorf("its signature: %v", err)
	}
}
