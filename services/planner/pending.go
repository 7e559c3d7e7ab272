package planner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// Pending changes live in the state bucket, one key per workspace and
// object: planner.pending.<workspace>.<cluster>.<group>.<kind>.<ns>.<name>.
// Every replica watches them; the replica holding a workspace's lease plans
// them and deletes the entries it covered (compare-and-delete on the
// revision, so a change that arrived meanwhile stays). A replica that dies
// mid-plan leaves them for the next holder.
const (
	keyPrefix   = "planner"
	keyPending  = "pending"
	keyLastFull = "lastfull"
	keyRelisted = "relisted"
	keyChurn    = "churn"
	maxWrites   = 32
	// changeRecheck marks a pending entry that asks for a plan of an
	// object without a change of it (see recheckOpenFindings).
	changeRecheck = "recheck"
)

// pendingRecord is what is kept per object and workspace.
type pendingRecord struct {
	Object   events.ObjectRef `json:"object"`
	Resource string           `json:"resource,omitempty"`
	Change   string           `json:"change"`
	First    time.Time        `json:"first"` // first change not planned yet
	Last     time.Time        `json:"last"`  // latest change
	Count    int              `json:"count"` // changes coalesced
	// Writes are who wrote which field, newest last (capped).
	Writes []events.PathOwner `json:"writes,omitempty"`
	// Owners are the object's owner hints as last seen: they map the
	// objects of a Helm release to its helm_release (helm.go).
	Owners events.OwnerHints `json:"owners,omitzero"`
	// HelmRevision is the revision state recorded for the object's Helm
	// release when the change was seen (helm.go).
	HelmRevision int64 `json:"helm_revision,omitempty"`
}

type pendingEntry struct {
	key string
	rev uint64
	rec pendingRecord
}

func pendingKey(ws string, o events.ObjectRef) string {
	return events.Key(keyPrefix, keyPending, ws, o.Cluster, o.Group, o.Kind, o.Namespace, o.Name)
}

func lastFullKey(ws string) string { return events.Key(keyPrefix, keyLastFull, ws) }

func relistedKey(ws string) string { return events.Key(keyPrefix, keyRelisted, ws) }

func churnKey(o events.ObjectRef, group string) string {
	return events.Key(keyPrefix, keyChurn, o.Cluster, group, o.Kind, o.Namespace, o.Name)
}

// addPending records one change of o for workspace ws.
func (s *Service) addPending(ctx context.Context, ws string, oc *events.ObjectChanged, writes []events.PathOwner, now time.Time) error {
	kv := s.d.Buckets.State
	key := pendingKey(ws, oc.Object)
	for attempt := 0; attempt < 10; attempt++ {
		var rec pendingRecord
		var rev uint64
		e, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			if json.Unmarshal(e.Value(), &rec) != nil {
				rec = pendingRecord{}
			}
			rev = e.Revision()
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return fmt.Errorf("pending %s: %w", key, err)
		}
		if rec.First.IsZero() {
			rec.First = now
		}
		if oc.Change == changeRecheck {
			// Not a change of the object: it neither counts nor hides
			// the kind of a change recorded before.
			rec.Object, rec.Last = oc.Object, now
			if rec.Change == "" {
				rec.Change = changeRecheck
			}
		} else {
			rec.Last, rec.Count = now, rec.Count+1
			rec.Object, rec.Resource, rec.Change, rec.Owners = oc.Object, oc.Resource, oc.Change, oc.Owners
			rec.HelmRevision = s.helmRevision(ws, oc)
		}
		rec.Writes = append(rec.Writes, writes...)
		if n := len(rec.Writes); n > maxWrites {
			rec.Writes = rec.Writes[n-maxWrites:]
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, key, b)
		} else {
			_, err = kv.Update(ctx, key, b, rev)
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return fmt.Errorf("pending %s: %w", key, err)
		}
	}
	return fmt.Errorf("pending %s: too many concurrent updates", key)
}

// conflict reports a lost compare-and-set.
func conflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// watchPending keeps every workspace's view of its pending changes and of
// its last full plan current, and wakes its loop on each change.
func (s *Service) watchPending(ctx context.Context) error {
	for ctx.Err() == nil {
		err := s.watchOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("pending watch ended; restarting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (s *Service) watchOnce(ctx context.Context) error {
	w, err := s.d.Buckets.State.Watch(ctx, keyPrefix+".>")
	if err != nil {
		return fmt.Errorf("watch pending: %w", err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil {
				s.markSynced()
				continue
			}
			s.applyWatch(e)
		}
	}
}

func (s *Service) markSynced() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.synced {
		s.synced = true
		close(s.syncedCh)
	}
}

func (s *Service) applyWatch(e jetstream.KeyValueEntry) {
	parts, err := events.SplitKey(e.Key())
	if err != nil || len(parts) < 3 {
		return
	}
	w := s.byName[parts[2]]
	if w == nil {
		return
	}
	del := e.Operation() != jetstream.KeyValuePut
	s.mu.Lock()
	switch parts[1] {
	case keyPending:
		if del {
			delete(w.pending, e.Key())
		} else {
			var rec pendingRecord
			if json.Unmarshal(e.Value(), &rec) == nil {
				w.pending[e.Key()] = &pendingEntry{key: e.Key(), rev: e.Revision(), rec: rec}
			}
		}
	case keyLastFull:
		var t time.Time
		if !del && json.Unmarshal(e.Value(), &t) == nil {
			w.lastFull = t
		}
	case keyRelisted:
		w.relisted = 0
		if !del {
			w.relisted = e.Revision()
		}
	}
	s.mu.Unlock()
	w.poke()
}

// consumePending deletes the entries a plan covered. An entry that changed
// since the snapshot (its revision moved on) stays for the next plan, with
// the changes this plan covered taken off its count, so every change is
// counted by exactly one plan.
func (s *Service) consumePending(ctx context.Context, entries []pendingEntry) {
	kv := s.d.Buckets.State
	for _, e := range entries {
		err := kv.Delete(ctx, e.key, jetstream.LastRevision(e.rev))
		for attempt := 0; err != nil && conflict(err) && attempt < 10; attempt++ {
			cur, gerr := kv.Get(ctx, e.key)
			if gerr != nil {
				err = nil // gone meanwhile
				break
			}
			var rec pendingRecord
			if json.Unmarshal(cur.Value(), &rec) != nil {
				break
			}
			rec.Count -= e.rec.Count
			if rec.Count < 1 && rec.Change != changeRecheck {
				rec.Count = 1
			}
			if rec.First.Before(e.rec.Last) {
				rec.First = e.rec.Last
			}
			b, merr := json.Marshal(rec)
			if merr != nil {
				break
			}
			_, err = kv.Update(ctx, e.key, b, cur.Revision())
		}
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn("settle planned change", "key", e.key, "err", err)
		}
	}
}
