package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/watcher/internal/health"
	"github.com/driftgate/driftgate/services/watcher/internal/inventory"
	"github.com/driftgate/driftgate/services/watcher/internal/resources"
	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

// item is a work queue key: a resource and an object's namespace/name.
type item struct {
	res string
	key string
}

// known is what the watcher last recorded of an object, as a worker
// compares it: the snapshot it published (shared with the informer cache),
// or the inventory record it was loaded from, read again because the object
// changed while no watcher ran.
type known struct {
	snap   *snapshot.Snapshot
	rec    *inventory.Record
	stamps map[string]snapshot.Stamp
}

// version identifies the recorded version of an object: a hash of its uid
// and resourceVersion. A restarted watcher keeps only this of each record
// until it sees the object live; the record itself is read again only when
// the object's version differs (or it is gone).
func version(uid, resourceVersion string) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(uid)
	_, _ = d.WriteString("\x00")
	_, _ = d.WriteString(resourceVersion)
	return d.Sum64()
}

// resourceWatch is the informers of one resource: one for all namespaces,
// or one per configured namespace.
type resourceWatch struct {
	res       resources.Resource
	informers map[string]cache.SharedIndexInformer
	baseline  bool
	synced    atomic.Bool
	lastErr   atomic.Pointer[string]
	// initial holds the keys of objects the informers' first list returned
	// that no worker has handled yet: they existed before the term began.
	// (A map under a mutex: a sync.Map costs about 5 times the memory per
	// key, and at the first sync it holds every object.)
	initialMu sync.Mutex
	initial   map[string]struct{}
}

func (w *resourceWatch) addInitial(key string) {
	w.initialMu.Lock()
	defer w.initialMu.Unlock()
	if w.initial == nil {
		w.initial = map[string]struct{}{}
	}
	w.initial[key] = struct{}{}
}

func (w *resourceWatch) isInitial(key string) bool {
	w.initialMu.Lock()
	defer w.initialMu.Unlock()
	_, ok := w.initial[key]
	return ok
}

func (w *resourceWatch) doneInitial(key string) {
	w.initialMu.Lock()
	defer w.initialMu.Unlock()
	delete(w.initial, key)
	if len(w.initial) == 0 {
		w.initial = nil // a map does not shrink: let it go
	}
}

// get returns the object's snapshot, or nil when it does not exist.
func (w *resourceWatch) get(key string) (*snapshot.Snapshot, error) {
	ns, _, _ := cache.SplitMetaNamespaceKey(key)
	for _, k := range []string{"", ns, key} {
		inf, ok := w.informers[k]
		if !ok {
			continue
		}
		obj, exists, err := inf.GetIndexer().GetByKey(key)
		if err != nil {
			return nil, fmt.Errorf("%s %s: cache: %w", w.res.Name, key, err)
		}
		if !exists {
			return nil, nil
		}
		s, ok := obj.(*snapshot.Snapshot)
		if !ok {
			return nil, fmt.Errorf("%s %s: cache holds %T, not a snapshot", w.res.Name, key, obj)
		}
		return s, nil
	}
	return nil, nil
}

func (w *resourceWatch) hasSynced() bool {
	for _, inf := range w.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// term is one period of watching: informers, queue, workers, and what is
// known of every object.
type term struct {
	c     *Controller
	log   *slog.Logger
	ctx   context.Context
	start time.Time
	queue workqueue.TypedRateLimitingInterface[item]

	mu      sync.RWMutex
	watches map[string]*resourceWatch
	// What is known of every object: published holds the snapshot last
	// published and recorded; recorded the version of each inventory
	// record not seen live yet in this term (an object is in one or the
	// other); pending the records of resources not watched yet, by
	// resource and key.
	published  map[item]*snapshot.Snapshot
	recorded   map[item]uint64
	pending    map[string]map[string]uint64
	unresolved map[string]error
	asked      map[string]bool // names resolved to a watched resource
	reported   map[string]bool // health events already published this term
	wg         sync.WaitGroup
}

func newTerm(c *Controller) *term {
	return &term{
		c:   c,
		log: c.log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[item](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[item]{}),
		watches:    map[string]*resourceWatch{},
		unresolved: map[string]error{},
		asked:      map[string]bool{},
		published:  map[item]*snapshot.Snapshot{},
		recorded:   map[item]uint64{},
		pending:    map[string]map[string]uint64{},
		reported:   map[string]bool{},
	}
}

func (t *term) run(ctx context.Context) {
	t.ctx, t.start = ctx, time.Now()
	defer func() {
		t.queue.ShutDown()
		t.wg.Wait()
	}()
	if err := t.load(ctx); err != nil {
		t.log.Error("load inventory; retrying", "err", err)
		sleep(ctx, 2*time.Second)
		return
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(t.c.discovery))
	rm := restmapper.NewShortcutExpander(mapper, t.c.discovery, nil)
	transient := t.resolve(rm, t.c.opts.Resources)
	for range t.c.opts.Workers {
		t.wg.Go(t.worker)
	}
	t.wg.Go(func() { t.watchNodes(ctx) })
	stateKinds := t.watchStateKinds(ctx)
	for {
		wait := t.c.opts.ResolveRetry
		if transient {
			wait = 2 * time.Second
		}
		if len(t.unresolvedNames()) == 0 {
			wait = time.Hour
		}
		select {
		case <-ctx.Done():
			return
		case names := <-stateKinds:
			if names = t.unwatched(names); len(names) > 0 {
				t.log.Info("watching kinds found in the workspaces' state", "resources", names)
				mapper.Reset()
				transient = t.resolve(rm, names) || transient
			}
			continue
		case <-time.After(wait):
		}
		if names := t.unresolvedNames(); len(names) > 0 {
			mapper.Reset()
			transient = t.resolve(rm, names)
		}
	}
}

// watchStateKinds feeds the kinds the workspaces' state holds (as the
// planner records them) when the resources are auto; the channel carries
// the latest full list. It never delivers otherwise.
func (t *term) watchStateKinds(ctx context.Context) <-chan []string {
	ch := make(chan []string, 1)
	if !t.c.opts.StateKinds || t.c.deps.State == nil {
		return ch
	}
	t.wg.Go(func() {
		for ctx.Err() == nil {
			err := events.WatchStateKinds(ctx, t.c.deps.State, t.c.opts.Cluster.Name, func(names []string) {
				select { // keep only the latest list
				case <-ch:
				default:
				}
				ch <- names
			})
			if err != nil {
				t.log.Warn("watch the kinds in state; retrying", "err", err)
				sleep(ctx, 5*time.Second)
			}
		}
	})
	return ch
}

// unwatched is names less the resources watched or waiting to be served,
// by the names given (resolve dedups two names of one resource).
func (t *term) unwatched(names []string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, n := range names {
		if _, ok := t.unresolved[n]; ok || t.asked[n] {
			continue
		}
		out = append(out, n)
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// load reads the cluster's inventory; records outside the namespace and
// label filters are not this watcher's business and are left alone.
func (t *term) load(ctx context.Context) error {
	n := 0
	err := t.c.deps.Inventory.Entries(ctx, t.c.opts.Cluster.Name, func(e *inventory.Entry) {
		n++
		if !t.inScope(e.Object.Namespace, e.Resource, e.Object.Name, labels.Set(e.Labels)) {
			return
		}
		p := t.pending[e.Resource]
		if p == nil {
			p = map[string]uint64{}
			t.pending[snapshot.Intern(e.Resource)] = p
		}
		p[objectKey(e.Object)] = version(e.Object.UID, e.ResourceVersion)
	})
	if err != nil {
		return err
	}
	t.log.Info("inventory loaded", "records", n)
	return nil
}

func (t *term) inScope(ns, resource, name string, l labels.Set) bool {
	if f := t.c.opts.Namespaces; len(f) > 0 {
		switch {
		case ns != "" && !slices.Contains(f, ns):
			return false
		case ns == "" && resource == "namespaces" && !slices.Contains(f, name):
			return false
		}
	}
	return t.c.selector.Matches(l)
}

func (t *term) unresolvedNames() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.unresolved))
	for n := range t.unresolved {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// resolve maps names and starts a watch for each new resource. It reports
// whether some failure looked transient (discovery itself failing).
func (t *term) resolve(m meta.RESTMapper, names []string) (transient bool) {
	res, errs := resources.Resolve(m, names)
	t.mu.Lock()
	for _, n := range names {
		delete(t.unresolved, n)
		if errs[n] == nil {
			t.asked[n] = true
		}
	}
	for n, err := range errs {
		t.unresolved[n] = err
		if !meta.IsNoMatchError(errors.Unwrap(err)) {
			transient = true
		}
	}
	t.mu.Unlock()
	for _, r := range res {
		t.mu.RLock()
		_, watching := t.watches[r.Name]
		t.mu.RUnlock()
		if !watching {
			t.startWatch(r)
		}
	}
	if len(errs) > 0 && !transient {
		var msgs []string
		for _, n := range t.unresolvedNames() {
			msgs = append(msgs, errs[n].Error())
		}
		t.reportOnce("notserved:"+strings.Join(t.unresolvedNames(), ","), &events.ClusterHealth{
			Component: events.ComponentWatcher, Condition: health.CondSynced, Status: "False",
			Severity: events.SeverityWarning, Reason: "NotServed", Since: time.Now(),
			Message: strings.Join(msgs, "; ") + fmt.Sprintf(" (looked up again every %s)", t.c.opts.ResolveRetry),
		})
	}
	return transient
}

func (t *term) reportOnce(key string, e *events.ClusterHealth) {
	t.mu.Lock()
	done := t.reported[key]
	t.reported[key] = true
	t.mu.Unlock()
	if done {
		return
	}
	e.Cluster = t.c.opts.Cluster.Name
	if e.ObservedAt.IsZero() {
		e.ObservedAt = time.Now()
	}
	t.c.publishHealth(t.ctx, e)
}

// startWatch starts the informers of r after moving its inventory records
// into the known set.
func (t *term) startWatch(r resources.Resource) {
	w := &resourceWatch{res: r, informers: map[string]cache.SharedIndexInformer{}}
	t.mu.Lock()
	recs := t.pending[r.Name]
	delete(t.pending, r.Name)
	for key, v := range recs {
		t.recorded[item{res: r.Name, key: key}] = v
	}
	t.watches[r.Name] = w
	t.mu.Unlock()
	w.baseline = len(recs) == 0 && !t.baselineDone(r.Name)

	scopes := []string{metav1.NamespaceAll}
	switch {
	case len(t.c.opts.Namespaces) == 0:
	case r.Namespaced || r.GVR.Group == "" && r.GVR.Resource == "namespaces":
		scopes = t.c.opts.Namespaces
	}
	for _, scope := range scopes {
		inf := cache.NewSharedIndexInformerWithOptions(t.listWatch(r, scope), &unstructured.Unstructured{},
			cache.SharedIndexInformerOptions{ResyncPeriod: t.c.opts.Resync, ObjectDescription: r.Name})
		_ = inf.SetTransform(t.c.builder.Transform(r.Secret()))
		_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, rf *cache.Reflector, err error) {
			msg := err.Error()
			w.lastErr.Store(&msg)
			cache.DefaultWatchErrorHandler(ctx, rf, err)
		})
		enqueue := func(obj any, initial bool) {
			key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				t.log.Warn("key of a watched object", "resource", r.Name, "err", err)
				return
			}
			if initial {
				w.addInitial(key)
			}
			t.queue.Add(item{res: r.Name, key: key})
		}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj, false) },
			DeleteFunc: func(obj any) { enqueue(obj, false) },
		})
		w.informers[scope] = inf
		t.wg.Go(func() { inf.RunWithContext(t.ctx) })
	}
	t.wg.Go(func() { t.awaitSync(w) })
}

// listWatch lists and watches r in scope (a namespace, or for the
// namespaces resource one namespace by name), with the label selector.
func (t *term) listWatch(r resources.Resource, scope string) cache.ListerWatcher {
	ri := t.c.dynamic.Resource(r.GVR)
	tweak := func(o *metav1.ListOptions) {
		o.LabelSelector = t.c.opts.LabelSelector
		if !r.Namespaced && scope != "" {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", scope).String()
		}
	}
	client := func() interface {
		List(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error)
		Watch(context.Context, metav1.ListOptions) (watch.Interface, error)
	} {
		if r.Namespaced {
			return ri.Namespace(scope)
		}
		return ri
	}()
	transform := t.c.builder.Transform(r.Secret())
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return listSnapshots(ctx, client.List, o, transform)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return client.Watch(ctx, o)
		},
	}
}

// listPage is how many objects one list request asks for.
const listPage = 500

// listSnapshots lists every page itself and turns each page's objects into
// snapshots before asking for the next, so a large list never sits in memory
// as unstructured objects (the informer's pager would keep every page). It
// returns one list without a continue token.
func listSnapshots(ctx context.Context, list func(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error),
	o metav1.ListOptions, transform func(any) (any, error)) (*snapshot.List, error) {
	out := &snapshot.List{}
	o.Limit = listPage
	if o.ResourceVersion == "0" {
		// "Any version" is served whole from the API server's watch cache,
		// ignoring the limit; a consistent read is paginated.
		o.ResourceVersion = ""
	}
	for first := true; ; first = false {
		page, err := list(ctx, o)
		if err != nil {
			return nil, err
		}
		if first {
			out.ResourceVersion = page.GetResourceVersion()
		}
		for i := range page.Items {
			s, err := transform(&page.Items[i])
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, s.(*snapshot.Snapshot))
		}
		if page.GetContinue() == "" {
			return out, nil
		}
		o.Continue, o.ResourceVersion, o.ResourceVersionMatch = page.GetContinue(), "", ""
	}
}

// awaitSync waits for w's informers, then enqueues every known object of
// the resource: those the list did not return were deleted while no term
// ran. It reports slow syncs and, once all resources synced, Synced=True.
func (t *term) awaitSync(w *resourceWatch) {
	warned := false
	for !w.hasSynced() {
		timeout := time.After(t.c.opts.SyncTimeout)
		if !cache.WaitForCacheSync(onTimeout(t.ctx, timeout), w.hasSynced) {
			if t.ctx.Err() != nil {
				return
			}
			if !warned {
				warned = true
				msg := "no error reported yet"
				if e := w.lastErr.Load(); e != nil {
					msg = *e
				}
				t.log.Warn("resource not synced", "resource", w.res.Name, "after", t.c.opts.SyncTimeout, "err", msg)
				t.reportOnce("notsynced:"+w.res.Name, &events.ClusterHealth{
					Component: events.ComponentWatcher, Condition: health.CondSynced, Status: "False",
					Severity: events.SeverityWarning, Reason: "NotSynced", Since: t.start,
					Message: fmt.Sprintf("%s not synced after %s: %s", w.res.Name, t.c.opts.SyncTimeout, msg),
				})
			}
		}
	}
	if w.baseline {
		t.markBaseline(w.res.Name)
	}
	w.synced.Store(true)
	t.mu.RLock()
	var keys []item
	for it := range t.recorded {
		if it.res == w.res.Name {
			keys = append(keys, it)
		}
	}
	for it := range t.published {
		if it.res == w.res.Name {
			keys = append(keys, it)
		}
	}
	t.mu.RUnlock()
	for _, it := range keys {
		t.queue.Add(it)
	}
	t.log.Info("resource synced", "resource", w.res.Name, "baseline", w.baseline, "known", len(keys))
	t.maybeAllSynced()
}

func onTimeout(ctx context.Context, timeout <-chan time.Time) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-ctx.Done():
		case <-timeout:
		}
	}()
	return out
}

func (t *term) maybeAllSynced() {
	t.mu.RLock()
	n, objects := 0, 0
	for _, w := range t.watches {
		if !w.synced.Load() {
			t.mu.RUnlock()
			return
		}
		n++
		for _, inf := range w.informers {
			objects += len(inf.GetStore().ListKeys())
		}
	}
	unresolved := len(t.unresolved)
	t.mu.RUnlock()
	if unresolved > 0 {
		t.c.setReady(fmt.Errorf("%d resources not served", unresolved))
	} else {
		t.c.setReady(nil)
	}
	t.log.Info("all resources synced", "resources", n, "objects", objects)
	t.reportOnce(fmt.Sprintf("synced:%d", n), &events.ClusterHealth{
		Component: events.ComponentWatcher, Condition: health.CondSynced, Status: "True",
		Severity: events.SeverityInfo, Reason: "Synced", Since: time.Now(),
		Message: fmt.Sprintf("watching %d resources, %d objects", n, objects),
	})
}

func (t *term) baselineKey(resource string) string {
	return BaselineKey(t.c.opts.Cluster.Name, resource)
}

// BaselineKey is the state-bucket key that marks a resource of a cluster as
// synced once: later terms report what they find changed.
func BaselineKey(cluster, resource string) string {
	return events.Key("watcher", "baseline", cluster, resource)
}

// baselineDone reports whether a resource was ever synced: the first sync
// records the inventory without publishing what already existed.
func (t *term) baselineDone(resource string) bool {
	_, err := t.c.deps.State.Get(t.ctx, t.baselineKey(resource))
	switch {
	case err == nil:
		return true
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false
	}
	t.log.Warn("read baseline mark; assuming done", "resource", resource, "err", err)
	return true
}

func (t *term) markBaseline(resource string) {
	if _, err := t.c.deps.State.Put(t.ctx, t.baselineKey(resource), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		t.log.Warn("write baseline mark", "resource", resource, "err", err)
	}
}

func objectKey(o events.ObjectRef) string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}
