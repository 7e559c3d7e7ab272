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
	r.Fingerprint = make(map[string]uint64, s.NumLeaves())
	for i := range s.NumLeaves() {
		l := s.Leaf(i)
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
	s.ResourceVersion, s.Generation, s.Labels = r.ResourceVersion, r.Generation, snapshot.InternLabels(r.Labels)
	leaves := make([]snapshot.Leaf, 0, len(r.Fingerprint))
	for p, h := range r.Fingerprint {
		leaves = append(leaves, snapshot.Leaf{Path: p, Hash: h, Sensitive: h == 0})
	}
	s.SetLeaves(leaves)
	var stamps map[string]snapshot.Stamp // nil when no leaf is sensitive
	for p, h := range r.Fingerprint {
		if h == 0 {
			if stamps == nil {
				stamps = map[string]snapshot.Stamp{}
			}
			stamps[snapshot.Intern(p)] = snapshot.StampOf(r.FieldOwners[p])
		}
	}
	return s, stamps
}

// Compact is Snapshot, and then drops from r what the snapshot and stamps
// hold (fingerprint, field owners, labels): what is left names the object
// and its owners, all a deletion event needs. A restarted watcher keeps
// every record of its inventory until it sees the object live, so this is
// most of its memory.
func (r *Record) Compact() (*snapshot.Snapshot, map[string]snapshot.Stamp) {
	s, stamps := r.Snapshot()
	r.Fingerprint, r.FieldOwners, r.Labels = nil, nil, nil
	o := &r.Object
	o.Cluster, o.Group, o.Version, o.Kind, o.Namespace = snapshot.Intern(o.Cluster), snapshot.Intern(o.Group),
		snapshot.Intern(o.Version), snapshot.Intern(o.Kind), snapshot.Intern(o.Namespace)
	r.Resource = snapshot.Intern(r.Resource)
	for i := range r.Managers {
		m := &r.Managers[i]
		m.Manager, m.Operation = snapshot.Intern(m.Manager), snapshot.Intern(m.Operation)
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

// Get returns the record of o, or nil when there is none.
func (s *Store) Get(ctx context.Context, o events.ObjectRef) (*Record, error) {
	e, err := s.kv.Get(ctx, events.InventoryKey(o))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("inventory get %s: %w", o, err)
	}
	r := &Record{}
	if err := json.Unmarshal(e.Value(), r); err != nil {
		return nil, fmt.Errorf("inventory get %s: %w", o, err)
	}
	return r, nil
}

// Entry is what a restarted watcher reads of each record at start-up: who
// the object is and which version was recorded. The rest of a record is
// read again (Get) only for an object that changed while no watcher ran.
type Entry struct {
	Object          events.ObjectRef  `json:"object"`
	Resource        string            `json:"resource"`
	ResourceVersion string            `json:"resource_version"`
	Labels          map[string]string `json:"labels,omitempty"`
}

// Load returns every record of cluster.
func (s *Store) Load(ctx context.Context, cluster string) ([]*Record, error) {
	var out []*Record
	err := s.Each(ctx, cluster, func(r *Record) { out = append(out, r) })
	return out, err
}

// Each calls fn with every record of cluster as it is read, so a caller
// that keeps less than the record does not hold them all at once.
func (s *Store) Each(ctx context.Context, cluster string, fn func(*Record)) error {
	return each(ctx, s.kv, cluster, fn)
}

// Entries calls fn with the entry of every record of cluster as it is read:
// the fingerprint and owners are skipped, not decoded.
func (s *Store) Entries(ctx context.Context, cluster string, fn func(*Entry)) error {
	return each(ctx, s.kv, cluster, fn)
}

func each[T any](ctx context.Context, kv jetstream.KeyValue, cluster string, fn func(*T)) error {
	w, err := kv.Watch(ctx, events.EscapeToken(cluster)+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("inventory load %s: %w", cluster, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("inventory load %s: %w", cluster, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("inventory load %s: watch closed", cluster)
			}
			if e == nil {
				return nil
			}
			r := new(T)
			if err := json.Unmarshal(e.Value(), r); err != nil {
				return fmt.Errorf("inventory load %s: key %s: %w", cluster, e.Key(), err)
			}
			fn(r)
		}
	}
}
