package importer

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

// The importer's contract with those who decide on its work lives in
// pkg/imports (the CLI and the console use it without importing the
// importer); these names keep the importer's own code reading as before.

// Decision is a signed approval or rejection (imports.Decision).
type Decision = imports.Decision

// DecisionReply is the decide RPC's answer (imports.DecisionReply).
type DecisionReply = imports.DecisionReply

// RequestRecord is an import request as kept in KV (imports.Request).
type RequestRecord = imports.Request

// The decision table (imports.Report).
type (
	Report      = imports.Report
	ReportRow   = imports.ReportRow
	ReportInput = imports.ReportInput
)

const (
	DecideSubject      = imports.DecideSubject
	DefaultApproverEnv = imports.DefaultApproverEnv
	MaxDecisionSkew    = imports.MaxDecisionSkew
	VerbApprove        = imports.VerbApprove
	VerbReject         = imports.VerbReject

	StatusPending    = imports.StatusPending
	StatusApproved   = imports.StatusApproved
	StatusRunning    = imports.StatusRunning
	StatusRejected   = imports.StatusRejected
	StatusSucceeded  = imports.StatusSucceeded
	StatusRolledBack = imports.StatusRolledBack
	StatusFailed     = imports.StatusFailed

	ActionImport            = imports.ActionImport
	ActionRemoveFromConfig  = imports.ActionRemoveFromConfig
	ActionDeleteAndRecreate = imports.ActionDeleteAndRecreate
	ActionRecreate          = imports.ActionRecreate
)

// ErrUnauthenticated is returned by Decision.Verify (imports.ErrUnauthenticated).
var ErrUnauthenticated = imports.ErrUnauthenticated

// Terminal reports whether a status is final.
func Terminal(status string) bool { return imports.Terminal(status) }

// RequestID is the id of the request for a finding about the object with
// uid at a state serial (imports.RequestID).
func RequestID(findingID, uid string, serial int64) string {
	return imports.RequestID(findingID, uid, serial)
}

// RequestIDAt is RequestID for a finding judged on a configuration revision
// (imports.RequestIDAt).
func RequestIDAt(findingID, uid string, serial int64, revision string) string {
	return imports.RequestIDAt(findingID, uid, serial, revision)
}

// Decide sends d to the importer and returns its reply (imports.Decide).
func Decide(ctx context.Context, nc *nats.Conn, d Decision) (DecisionReply, error) {
	return imports.Decide(ctx, nc, d)
}

// BuildReport builds the decision table (imports.BuildReport).
func BuildReport(in ReportInput) Report { return imports.BuildReport(in) }

// ListRequests returns the import requests of a workspace ("" for all) from
// the state bucket, oldest first (imports.ListRequests).
func ListRequests(ctx context.Context, kv jetstream.KeyValue, ws string) ([]*RequestRecord, error) {
	return imports.ListRequests(ctx, kv, ws)
}

func mac(token string, msg []byte) []byte { return imports.MAC(token, msg) }

// requestEvent returns the import.<verb> event data for the record.
func requestEvent(r *RequestRecord, verb string) *events.Import {
	return events.NewImport(verb, events.Import{
		RequestID: r.ID, WS: r.Workspace, FindingID: r.FindingID, Address: r.Address, ImportID: r.ImportID,
		Object: r.Object, Risk: r.Risk, Policy: r.Policy, StateSerial: r.StateSerial, Revision: r.Revision, At: time.Now().UTC(),
	})
}

func execRequest(r *RequestRecord) execute.Request {
	return execute.Request{ID: r.ID, Workspace: r.Workspace, Address: r.Address, ImportID: r.ImportID,
		Object: r.Object, Risk: r.Risk, StateSerial: r.StateSerial}
}
