package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/imports"
)

// KV keys of the importer in the state bucket.
func requestKey(ws, id string) string  { return imports.RequestKey(ws, id) }
func findingKey(ws, fid string) string { return imports.FindingKey(ws, fid) }
func journalKey(ws string) string      { return events.Key("importer", "journal", ws) }
func movesKey(ws string) string        { return events.Key("importer", "moves", ws) }
func anyRequestFilter(id string) string {
	return events.Key("importer", "request") + ".*." + events.EscapeToken(id)
}
func anyFindingFilter(fid string) string {
	return events.Key("importer", "finding") + ".*." + events.EscapeToken(fid)
}
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
	return imports.ListRequests(ctx, s.kv, ws)
}

func listKeys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	return imports.ListKeys(ctx, kv, filter)
}
