package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/watcher/internal/inventory"
	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

// permanentError is a change that can never be published (invalid data):
// it is logged and dropped instead of retried.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func (t *term) worker() {
	for t.processNext() {
	}
}

func (t *term) processNext() bool {
	it, shutdown := t.queue.Get()
	if shutdown {
		return false
	}
	defer t.queue.Done(it)
	err := t.process(it)
	var perm *permanentError
	switch {
	case err == nil:
		t.queue.Forget(it)
	case errors.As(err, &perm):
		t.log.Error("dropping a change that cannot be published", "resource", it.res, "key", it.key, "err", err)
		t.queue.Forget(it)
	case t.ctx.Err() != nil:
		// The term is over; the next one reconciles from the inventory.
	default:
		if n := t.queue.NumRequeues(it); n < 3 || n%10 == 0 {
			t.log.Warn("change not recorded; retrying", "resource", it.res, "key", it.key, "attempt", n+1, "err", err)
		}
		t.queue.AddRateLimited(it)
	}
	return true
}

// process brings the record of one object up to date with the cache: it
// publishes what changed since the known version, then stores the record.
// Publishing first makes a crash in between harmless: the next attempt
// publishes the same change under the same id, which JetStream drops.
func (t *term) process(it item) (err error) {
	t.mu.RLock()
	w := t.watches[it.res]
	published := t.published[it]
	recorded, loaded := t.recorded[it]
	t.mu.RUnlock()
	if w == nil {
		return nil
	}
	cur, err := w.get(it.key)
	if err != nil {
		return err
	}
	existed := w.isInitial(it.key)
	defer func() {
		if err == nil && existed {
			w.doneInitial(it.key)
		}
	}()
	if cur == nil && (published == nil && !loaded || !w.synced.Load()) {
		// Nothing to say; or deletions must wait for the full list.
		return nil
	}
	var prev *known
	switch {
	case published != nil:
		prev = &known{snap: published}
	case loaded && cur != nil && recorded == version(string(cur.UID), cur.ResourceVersion):
		// Recorded as it is: unchanged while no watcher ran.
		t.setKnown(it, cur)
		return nil
	case loaded:
		// Changed or gone while no watcher ran: read its record to compare.
		if prev, err = t.loadKnown(w, it); err != nil {
			return err
		}
		if prev == nil {
			t.setKnown(it, nil)
			if cur == nil {
				return nil
			}
		}
	}
	if prev != nil && (cur == nil || prev.snap.UID != cur.UID) {
		if err := t.deleted(w.res.Name, prev); err != nil {
			return err
		}
		t.setKnown(it, nil)
		prev = nil
	}
	if cur == nil {
		return nil
	}
	if prev != nil && prev.snap.ResourceVersion == cur.ResourceVersion {
		// A resync, or the first sight in this term of what is recorded.
		t.setKnown(it, cur)
		return nil
	}
	now := time.Now()
	oc := &events.ObjectChanged{
		Resource:        w.res.Name,
		ResourceVersion: cur.ResourceVersion,
		Generation:      cur.Generation,
		ObservedAt:      now,
	}
	if prev == nil {
		// In the first list but not in the inventory: it appeared while
		// nobody watched.
		oc.Change, oc.Relist = events.ChangeAdded, existed
		if existed && w.baseline {
			// The first sync of a resource records what exists silently.
			rec := inventory.FromSnapshot(t.c.opts.Cluster.Name, w.res.Name, w.res.GVR.GroupVersion(), cur, now)
			if err := t.put(rec); err != nil {
				return err
			}
			t.setKnown(it, cur)
			return nil
		}
	} else {
		oc.Paths = snapshot.Changed(prev.snap, cur, prev.stamps)
		if prev.rec != nil {
			// Compared with its record: a watcher that died between
			// publishing a change and recording it left the record one
			// change behind, and a change back to what is recorded would
			// otherwise look like none (the pipeline would keep the
			// change it was told about). What was published last counts.
			unrecorded, err := t.unrecorded(prev.rec)
			if err != nil {
				return err
			}
			oc.Paths = mergePaths(oc.Paths, unrecorded)
		}
		if len(oc.Paths) == 0 {
			// Status, resync or bookkeeping only.
			t.setKnown(it, cur)
			return nil
		}
		oc.Change, oc.Relist = events.ChangeUpdated, prev.rec != nil
		oc.Attribution = cur.Attribution(oc.Paths)
	}
	rec := inventory.FromSnapshot(t.c.opts.Cluster.Name, w.res.Name, w.res.GVR.GroupVersion(), cur, now)
	oc.Object, oc.Managers, oc.Owners = rec.Object, rec.Managers, rec.Owners
	if err := t.publish(oc); err != nil {
		return err
	}
	if err := t.put(rec); err != nil {
		return err
	}
	t.setKnown(it, cur)
	return nil
}

// unrecorded returns the paths of the last change published about the
// object of rec when it is not the version rec holds: published, never
// recorded. nil when the record is up to date.
func (t *term) unrecorded(rec *inventory.Record) ([]string, error) {
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	d, err := t.c.deps.Publisher.Last(ctx, &events.ObjectChanged{Object: rec.Object})
	if err != nil {
		return nil, err
	}
	last, ok := d.(*events.ObjectChanged)
	if !ok || last.Object.UID != rec.Object.UID || last.Change == events.ChangeDeleted ||
		last.ResourceVersion == rec.ResourceVersion {
		return nil, nil
	}
	t.log.Info("the last change published about this object was never recorded; publishing what it is now",
		"object", rec.Object.String(), "published", last.ResourceVersion, "recorded", rec.ResourceVersion, "paths", last.Paths)
	return last.Paths, nil
}

// mergePaths is the sorted union of a and b.
func mergePaths(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// deleted publishes the deletion of what was known and drops its record.
func (t *term) deleted(resource string, prev *known) error {
	oc := &events.ObjectChanged{Resource: resource, Change: events.ChangeDeleted, ObservedAt: time.Now()}
	if r := prev.rec; r != nil {
		oc.Object, oc.ResourceVersion, oc.Generation = r.Object, r.ResourceVersion, r.Generation
		oc.Managers, oc.Owners, oc.Relist = r.Managers, r.Owners, true
	} else {
		s := prev.snap
		t.mu.RLock()
		w := t.watches[resource]
		t.mu.RUnlock()
		oc.Object = inventory.Ref(t.c.opts.Cluster.Name, w.res.GVR.GroupVersion(), s)
		oc.ResourceVersion, oc.Generation = s.ResourceVersion, s.Generation
		oc.Managers, oc.Owners = s.ManagerList(), s.Hints()
	}
	if err := t.publish(oc); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	return t.c.deps.Inventory.Delete(ctx, oc.Object)
}

func (t *term) publish(oc *events.ObjectChanged) error {
	if err := oc.Validate(); err != nil {
		return &permanentError{fmt.Errorf("%s %s: %w", oc.Change, oc.Object, err)}
	}
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	if _, err := t.c.deps.Publisher.Publish(ctx, oc); err != nil {
		return err
	}
	if f := t.c.opts.OnPublished; f != nil {
		f(oc)
	}
	return nil
}

func (t *term) put(rec *inventory.Record) error {
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	return t.c.deps.Inventory.Put(ctx, rec)
}

// setKnown records that s (nil: nothing) is what the inventory now holds of
// the object.
func (t *term) setKnown(it item, s *snapshot.Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.recorded, it)
	if s == nil {
		delete(t.published, it)
		return
	}
	t.published[it] = s
}

// loadKnown reads the inventory record of an object loaded at the term's
// start; nil when there is none any more.
func (t *term) loadKnown(w *resourceWatch, it item) (*known, error) {
	ns, name, _ := cache.SplitMetaNamespaceKey(it.key)
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	rec, err := t.c.deps.Inventory.Get(ctx, events.ObjectRef{
		Cluster: t.c.opts.Cluster.Name, Group: w.res.GVR.Group, Kind: w.res.Kind, Namespace: ns, Name: name,
	})
	if rec == nil || err != nil {
		return nil, err
	}
	snap, stamps := rec.Compact()
	return &known{snap: snap, rec: rec, stamps: stamps}, nil
}
