package imports

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/driftgate/driftgate/pkg/config"
)

// DecideSubject is the importer's decision endpoint (NATS request/reply,
// queue group "importer"). It lies outside the stream's subjects, so a
// decision is stored only as the event the importer publishes after checking
// it.
const DecideSubject = "driftgate-rpc.importer.decide"

// DefaultApproverEnv is the environment variable holding the approver token
// when importer.approver_token_env does not name another.
const DefaultApproverEnv = config.DefaultApproverEnv

// MaxDecisionSkew bounds the age of a signed decision (and its clock skew).
const MaxDecisionSkew = 5 * time.Minute

// Decision verbs.
const (
	VerbApprove = "approve"
	VerbReject  = "reject"
)

// Decision is an approval or rejection of an import request, signed with
// the approver token.
type Decision struct {
	// ID is the request id (ir-...) or the id of its finding (f-...).
	ID     string `json:"id"`
	Verb   string `json:"verb"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
	// Timestamp is when the decision was signed (unix seconds).
	Timestamp int64 `json:"timestamp"`
	// Signature is hex HMAC-SHA256(token, canonical form).
	Signature string `json:"signature"`
}

func (d *Decision) canonical() []byte {
	return []byte(strings.Join([]string{"driftgate-decision-v1", d.ID, d.Verb, d.By, d.Reason,
		strconv.FormatInt(d.Timestamp, 10)}, "\n"))
}

// Sign sets Timestamp to now and Signature with token.
func (d *Decision) Sign(token string, now time.Time) {
	d.Timestamp = now.Unix()
	d.Signature = hex.EncodeToString(MAC(token, d.canonical()))
}

// ErrUnauthenticated is returned by Verify for a decision not signed with the
// approver token (or signed too long ago).
var ErrUnauthenticated = errors.New("not authenticated")

// Verify checks the signature against token and the timestamp against now.
func (d *Decision) Verify(token string, now time.Time) error {
	if token == "" {
		return fmt.Errorf("%w: approvals are disabled: the importer has no approver token (importer.approver_token_env)", ErrUnauthenticated)
	}
	if err := d.VerifySignature(token); err != nil {
		return err
	}
	age := now.Sub(time.Unix(d.Timestamp, 0))
	if age > MaxDecisionSkew || age < -MaxDecisionSkew {
		return fmt.Errorf("%w: the decision was signed %s ago (allowed: %s)", ErrUnauthenticated, age.Round(time.Second), MaxDecisionSkew)
	}
	return nil
}

// VerifySignature checks the signature against token, not the age: the
// importer's executor checks a stored decision again with it, long after the
// decide path checked its age.
func (d *Decision) VerifySignature(token string) error {
	if token == "" {
		return fmt.Errorf("%w: the importer has no approver token (importer.approver_token_env)", ErrUnauthenticated)
	}
	if d.Signature == "" {
		return fmt.Errorf("%w: the decision is not signed (set the approver token)", ErrUnauthenticated)
	}
	sig, err := hex.DecodeString(d.Signature)
	if err != nil {
		return fmt.Errorf("%w: malformed signature", ErrUnauthenticated)
	}
	if !hmac.Equal(sig, MAC(token, d.canonical())) {
		return fmt.Errorf("%w: bad signature (wrong approver token?)", ErrUnauthenticated)
	}
	return nil
}

// MAC is hex-less HMAC-SHA256(token, msg), the primitive of decisions and of
// the importer's seals.
func MAC(token string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(msg)
	return m.Sum(nil)
}

// Validate checks the fields a decision must have.
func (d *Decision) Validate() error {
	switch {
	case d.ID == "":
		return errors.New("the request id is empty")
	case d.Verb != VerbApprove && d.Verb != VerbReject:
		return fmt.Errorf("verb %q is not approve or reject", d.Verb)
	case d.By == "":
		return errors.New("by is empty: every decision names who made it")
	case d.Verb == VerbReject && strings.TrimSpace(d.Reason) == "":
		return errors.New("a rejection needs a reason")
	}
	return nil
}

// DecisionReply is the importer's answer.
type DecisionReply struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error,omitempty"`
	Request *Request `json:"request,omitempty"`
}

// Decide sends d to the importer and returns its reply. An error means no
// importer answered (or the answer did not parse); a refusal is a reply
// with OK false.
func Decide(ctx context.Context, nc *nats.Conn, d Decision) (DecisionReply, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return DecisionReply{}, err
	}
	msg, err := nc.RequestWithContext(ctx, DecideSubject, b)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return DecisionReply{}, errors.New("no importer is running to take the decision (is `driftgate run` up?)")
		}
		return DecisionReply{}, fmt.Errorf("decide: %w", err)
	}
	var r DecisionReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return DecisionReply{}, fmt.Errorf("decide: the reply does not parse: %w", err)
	}
	return r, nil
}
