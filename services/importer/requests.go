package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
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

// RequestRecord is an import request as the importer keeps it (KV bucket
// driftgate-state, key importer.request.<workspace>.<id>).
type RequestRecord struct {
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
	// verifies it again before every run (verifyApproval).
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

// event returns the import.<verb> event data for the record.
func (r *RequestRecord) event(verb string) *events.Import {
	return events.NewImport(verb, events.Import{
		RequestID: r.ID, WS: r.Workspace, FindingID: r.FindingID, Address: r.Address, ImportID: r.ImportID,
		Object: r.Object, Risk: r.Risk, Policy: r.Policy, StateSerial: r.StateSerial, Revision: r.Revision, At: time.Now().UTC(),
	})
}

func (r *RequestRecord) execRequest() execute.Request {
	return execute.Request{ID: r.ID, Workspace: r.Workspace, Address: r.Address, ImportID: r.ImportID,
		Object: r.Object, Risk: r.Risk, StateSerial: r.StateSerial}
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

// KV keys of the importer in the state bucket.
func requestKey(ws, id string) string  { return events.Key("importer", "request", ws, id) }
func findingKey(ws, fid string) string { return events.Key("importer", "finding", ws, fid) }
func journalKey(ws string) string      { return events.Key("importer", "journal", ws) }
func movesKey(ws string) string        { return events.Key("importer", "moves", ws) }
func requestFilter(ws string) string   { return events.Key("importer", "request", ws) + ".*" }
func anyRequestFilter(id string) string {
	return events.Key("importer", "request") + ".*." + events.EscapeToken(id)
}
func anyFindingFilter(fid string) string {
	return events.Key("importer", "finding") + ".*." + events.EscapeToken(fid)
}
func allRequestsFilter() string { return events.Key("importer", "request") + ".>" }
func workspaceOfRequestKey(k string) string {
	parts, err := events.SplitKey(k)
	if err != nil || len(parts) < 4 {
		return ""
	}
	return parts[2]
}

// requests reads and updates request records with compare-and-set.
type requests struct{ kv jetstream.KeyValue }

func (s requests) get(ctx context.Context, ws, id string) (*RequestRecord, uint64, error) {
	var r RequestRecord
	rev, ok, err := events.GetJSON(ctx, s.kv, requestKey(ws, id), &r)
	if err != nil || !ok {
		return nil, 0, err
	}
	return &r, rev, nil
}

// create stores a new record; ok is false when it exists already.
func (s requests) create(ctx context.Context, r *RequestRecord) (bool, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	if _, err := s.kv.Create(ctx, requestKey(r.Workspace, r.ID), b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return false, nil
		}
		return false, fmt.Errorf("create request %s: %w", r.ID, err)
	}
	if _, err := events.PutJSON(ctx, s.kv, findingKey(r.Workspace, r.FindingID), map[string]string{"request_id": r.ID}); err != nil {
		return true, err
	}
	return true, nil
}

// ErrConflict is returned by update when the record changed meanwhile.
var errConflict = errors.New("request changed concurrently")

// update applies f to the record and stores it if f returns nil; it
// retries on concurrent changes.
func (s requests) update(ctx context.Context, ws, id string, f func(r *RequestRecord) error) (*RequestRecord, error) {
	for i := 0; i < 10; i++ {
		r, rev, err := s.get(ctx, ws, id)
		if err != nil {
			return nil, err
		}
		if r == nil {
			return nil, fmt.Errorf("request %s not found", id)
		}
		if err := f(r); err != nil {
			return r, err
		}
		r.UpdatedAt = time.Now().UTC()
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		if _, err := s.kv.Update(ctx, requestKey(ws, id), b, rev); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) || strings.Contains(err.Error(), "wrong last sequence") {
				continue
			}
			return nil, fmt.Errorf("update request %s: %w", id, err)
		}
		return r, nil
	}
	return nil, fmt.Errorf("update request %s: %w", id, errConflict)
}

// forFinding returns the current request of a finding, if any.
func (s requests) forFinding(ctx context.Context, ws, fid string) (*RequestRecord, error) {
	var idx map[string]string
	_, ok, err := events.GetJSON(ctx, s.kv, findingKey(ws, fid), &idx)
	if err != nil || !ok {
		return nil, err
	}
	r, _, err := s.get(ctx, ws, idx["request_id"])
	return r, err
}

// find resolves a request id or a finding id, in any workspace.
func (s requests) find(ctx context.Context, id string) (*RequestRecord, error) {
	filter := anyRequestFilter(id)
	if strings.HasPrefix(id, "f-") {
		filter = anyFindingFilter(id)
	}
	keys, err := listKeys(ctx, s.kv, filter)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no import request %s", id)
	}
	if len(keys) > 1 {
		return nil, fmt.Errorf("%s names %d requests", id, len(keys))
	}
	ws := workspaceOfRequestKey(keys[0])
	if strings.HasPrefix(id, "f-") {
		return s.forFinding(ctx, ws, id)
	}
	r, _, err := s.get(ctx, ws, id)
	return r, err
}

// list returns the records of a workspace ("" for all), oldest first.
func (s requests) list(ctx context.Context, ws string) ([]*RequestRecord, error) {
	filter := allRequestsFilter()
	if ws != "" {
		filter = requestFilter(ws)
	}
	keys, err := listKeys(ctx, s.kv, filter)
	if err != nil {
		return nil, err
	}
	var out []*RequestRecord
	for _, k := range keys {
		var r RequestRecord
		_, ok, err := events.GetJSON(ctx, s.kv, k, &r)
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

func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
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

// ListRequests returns the import requests of a workspace ("" for all) from
// the state bucket, oldest first (driftgate report reads them).
func ListRequests(ctx context.Context, kv jetstream.KeyValue, ws string) ([]*RequestRecord, error) {
	return requests{kv: kv}.list(ctx, ws)
}
