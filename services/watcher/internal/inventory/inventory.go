// Package inventory keeps the watcher's record of every watched live object
// in the inventory KV bucket, under events.InventoryKey. A record is an
// events.InventoryRecord (what other services read) plus the object's
// fingerprint, which lets a restarted watcher tell what changed while it was
// down. Secret values, and hashes of them, are never stored.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

// Record is what the watcher stores. Readers that decode it into an
// events.InventoryRecord ignore the fingerprint.
type Record struct {
	events.InventoryRecord
	// Fingerprint maps every leaf field to a hash of its value; a Secret's
	// data has 0 (unknown): only its presence is stored.
	Fingerprint map[string]uint64 `json:"watcher_fingerprint,omitempty"`
}

// FromSnapshot makes the record of a live object.
func FromSnapshot(cluster, resource string, gv schema.GroupVersion, s *snapshot.Snapshot, now time.Time) *Record {
	r := &Record{InventoryRecord: live.Record(cluster, resource, gv.WithKind(s.Kind), s, s.ManagerList(), s.FieldOwners(), now)}
	r.Fingerprint = make(map[string]uint64, len(s.Leaves))
	for _, l := range s.Leaves {
		if l.Sensitive {
			r.Fingerprint[l.Path] = 0
		} else {
			r.Fingerprint[l.Path] = l.Hash
		}
	}
	return r
}

// Ref is the identity of a live object.
func Ref(cluster string, gv schema.GroupVersion, s *snapshot.Snapshot) events.ObjectRef {
	return events.ObjectRef{
		Cluster: cluster, Group: gv.Group, Version: gv.Version, Kind: s.Kind,
		Namespace: s.Namespace, Name: s.Name, UID: string(s.UID),
	}
}

// Snapshot rebuilds what the record remembers of the object: identity,
// labels and leaves (sensitive ones with Hash 0), and the stamps of the
// owners of those leaves, to judge a Secret key's change after a restart.
func (r *Record) Snapshot() (*snapshot.Snapshot, map[string]snapshot.Stamp) {
	o := r.Object
	s := &snapshot.Snapshot{TypeMeta: metav1.TypeMeta{
		APIVersion: schema.GroupVersion{Group: o.Group, Version: o.Version}.String(), Kind: o.Kind,
	}}
	s.Name, s.Namespace, s.UID = o.Name, o.Namespace, types.UID(o.UID)
	s.ResourceVersion, s.Generation, s.Labels = r.ResourceVersion, r.Generation, r.Labels
	s.Leaves = make([]snapshot.Leaf, 0, len(r.Fingerprint))
	for p, h := range r.Fingerprint {
		s.Leaves = append(s.Leaves, snapshot.Leaf{Path: p, Hash: h, Sensitive: h == 0})
	}
	snapshot.SortLeaves(s.Leaves)
	stamps := map[string]snapshot.Stamp{}
	for p, h := range r.Fingerprint {
		if h == 0 {
			stamps[p] = snapshot.StampOf(r.FieldOwners[p])
		}
	}
	return s, stamps
}

// Store reads and writes records in the inventory bucket.
type Store struct {
	kv jetstream.KeyValue
}

// NewStore wraps the inventory bucket.
func NewStore(kv jetstream.KeyValue) *Store { return &Store{kv: kv} }

// Put stores r.
func (s *Store) Put(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("inventory put %s: encode: %w", r.Object, err)
	}
	if _, err := s.kv.Put(ctx, events.InventoryKey(r.Object), b); err != nil {
		return fmt.Errorf("inventory put %s: %w", r.Object, err)
	}
	return nil
}

// Delete removes the record of o.
func (s *Store) Delete(ctx context.Context, o events.ObjectRef) error {
	if err := s.kv.Delete(ctx, events.InventoryKey(o)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("inventory delete %s: %w", o, err)
	}
	return nil
}

// Load returns every record of cluster.
func (s *Store) Load(ctx context.Context, cluster string) ([]*Record, error) {
	w, err := s.kv.Watch(ctx, events.EscapeToken(cluster)+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("inventory load %s: %w", cluster, err)
	}
	defer func() { _ = w.Stop() }()
	var out []*Record
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("inventory load %s: %w", cluster, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("inventory load %s: watch closed", cluster)
			}
			if e == nil {
				return out, nil
			}
			r := &Record{}
			if err := json.Unmarshal(e.Value(), r); err != nil {
				return nil, fmt.Errorf("inventory load %s: key %s: %w", cluster, e.Key(), err)
			}
			out = append(out, r)
		}
	}
}
