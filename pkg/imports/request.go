package imports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// Request statuses.
const (
	StatusPending    = "pending"    // waiting for approval
	StatusApproved   = "approved"   // waiting for its turn
	StatusRunning    = "running"    // being imported
	StatusRejected   = "rejected"   // final
	StatusSucceeded  = "succeeded"  // final
	StatusRolledBack = "rolledback" // final: the state was restored
	StatusFailed     = "failed"     // final: refused or failed before the state changed
)

// Terminal reports whether a status is final.
func Terminal(status string) bool {
	switch status {
	case StatusRejected, StatusSucceeded, StatusRolledBack, StatusFailed:
		return true
	}
	return false
}

// Request is an import request as the importer keeps it (KV bucket
// driftgate-state, key importer.request.<workspace>.<id>).
type Request struct {
	ID          string           `json:"id"`
	Workspace   string           `json:"workspace"`
	FindingID   string           `json:"finding_id"`
	Address     string           `json:"address"`
	ImportID    string           `json:"import_id"`
	Object      events.ObjectRef `json:"object"`
	Risk        string           `json:"risk"`
	Policy      string           `json:"policy"`
	StateSerial int64            `json:"state_serial"`
	// Revision is the configuration commit the finding was judged on
	// (a workspace whose source is Git): the executor refuses the import
	// once the workspace's revision moved on.
	Revision string `json:"revision,omitempty"`
	Status   string `json:"status"`
	By       string `json:"by,omitempty"`
	Reason   string `json:"reason,omitempty"` // of the decision, or of the outcome
	// Decision is the signed decision the status rests on: a person's, as
	// the decide RPC carried it (its id may be the finding's), or the
	// importer's own for a policy approval or a withdrawal. The executor
	// verifies it again before every run.
	Decision *Decision `json:"decision,omitempty"`
	// Seal binds Decision to this request's content: hex HMAC-SHA256 with
	// the approver token, made by the importer when it took the decision.
	Seal string `json:"seal,omitempty"`
	// Announced is set once the decision's event (import.approved) is in
	// the stream; the executor publishes it itself before it starts an
	// import whose record is not marked.
	Announced bool      `json:"announced,omitempty"`
	Attempts  int       `json:"attempts,omitempty"`
	Step      string    `json:"step,omitempty"`
	Diff      []string  `json:"diff,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RequestID is the id of the request for a finding about the object with
// uid at a state serial: the same finding seen again is the same request.
func RequestID(findingID, uid string, serial int64) string {
	h := sha256.Sum256([]byte(findingID + "\x00" + uid + "\x00" + strconv.FormatInt(serial, 10)))
	return "ir-" + hex.EncodeToString(h[:8])
}

// RequestIDAt is RequestID for a finding judged on a configuration
// revision: the same finding on a new revision is a new request.
func RequestIDAt(findingID, uid string, serial int64, revision string) string {
	if revision == "" {
		return RequestID(findingID, uid, serial)
	}
	h := sha256.Sum256([]byte(findingID + "\x00" + uid + "\x00" + strconv.FormatInt(serial, 10) + "\x00" + revision))
	return "ir-" + hex.EncodeToString(h[:8])
}

// RequestKey is the KV key of a request in the state bucket.
func RequestKey(ws, id string) string { return events.Key("importer", "request", ws, id) }

// FindingKey is the KV key of a finding's index entry (its current request).
func FindingKey(ws, fid string) string { return events.Key("importer", "finding", ws, fid) }

// RequestFilter matches the requests of a workspace ("" for all).
func RequestFilter(ws string) string {
	if ws == "" {
		return events.Key("importer", "request") + ".>"
	}
	return events.Key("importer", "request", ws) + ".*"
}

// ListRequests returns the import requests of a workspace ("" for all) from
// the state bucket, oldest first.
func ListRequests(ctx context.Context, kv jetstream.KeyValue, ws string) ([]*Request, error) {
	keys, err := ListKeys(ctx, kv, RequestFilter(ws))
	if err != nil {
		return nil, err
	}
	var out []*Request
	for _, k := range keys {
		var r Request
		_, ok, err := events.GetJSON(ctx, kv, k, &r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, &r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ListKeys returns the keys of kv matching filter (none is not an error).
func ListKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	kl, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", filter, err)
	}
	defer kl.Stop()
	var keys []string
	for k := range kl.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}
