// Package snapshot is what the watcher keeps of a live object instead of the
// object itself: its identity, the metadata that names its owners, its field
// managers and what each owns, and a fingerprint (one hash per leaf field).
// Values are never kept; a Secret's data is hashed with a per-process key and
// its hashes never leave the process. Changed paths are computed between two
// snapshots, attribution from the newer one's managedFields.
package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
	"unique"

	"github.com/cespare/xxhash/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Snapshot is a live object as the watcher keeps it. It is what the
// informers' caches hold (the transform turns every object into one), so it
// is shared and must never be mutated.
type Snapshot struct {
	metav1.TypeMeta
	// Meta keeps identity, labels, the owner-hint annotations and
	// ownerReferences; managedFields are parsed into Managers and Owned.
	Meta
	Managers []Manager
	Owned    []OwnedPath // sorted by Path
	// LeafPaths are the leaf fields, sorted, and Hashes a hash of each
	// one's value. The paths are shared by the snapshots of objects with
	// the same fields (most objects of a kind): only the hashes are the
	// object's own. Secret says the object is a Secret (its sensitive
	// leaves are hashed with the process's key).
	LeafPaths []string
	Hashes    []uint64
	Secret    bool
}

// Manager is one metadata.managedFields entry.
type Manager struct {
	Name        string
	Operation   string
	Subresource string
	Time        time.Time // zero when the entry has none
}

// OwnedPath is a field and the managers (bits over Snapshot.Managers) that
// own it.
type OwnedPath struct {
	Path     string
	Managers uint64
}

// Leaf is one leaf field and a hash of its value. Hash 0 means the value is
// unknown: a sensitive leaf read back from the inventory.
type Leaf struct {
	Path      string
	Hash      uint64
	Sensitive bool
}

// NumLeaves is the number of leaf fields.
func (s *Snapshot) NumLeaves() int { return len(s.LeafPaths) }

// Leaf is the i-th leaf field, in path order.
func (s *Snapshot) Leaf(i int) Leaf {
	p := s.LeafPaths[i]
	return Leaf{Path: p, Hash: s.Hashes[i], Sensitive: s.Secret && Sensitive(p)}
}

// SetLeaves sets the snapshot's leaves (in any order; l is sorted); the
// snapshot is a Secret's when a leaf is sensitive.
func (s *Snapshot) SetLeaves(l []Leaf) {
	SortLeaves(l)
	paths := make([]string, len(l))
	s.Hashes = make([]uint64, len(l))
	s.Secret = false
	for i, x := range l {
		paths[i], s.Hashes[i] = intern(x.Path), x.Hash
		s.Secret = s.Secret || x.Sensitive
	}
	s.LeafPaths = internPaths(paths)
}

// DeepCopyObject implements runtime.Object. Paths are immutable strings, so
// the slices are copied, not their elements' contents.
func (s *Snapshot) DeepCopyObject() runtime.Object {
	c := &Snapshot{TypeMeta: s.TypeMeta}
	c.Meta = s.Meta.deepCopy()
	c.Managers = append([]Manager(nil), s.Managers...)
	c.Owned = append([]OwnedPath(nil), s.Owned...)
	c.LeafPaths = s.LeafPaths // shared, never mutated
	c.Hashes = append([]uint64(nil), s.Hashes...)
	c.Secret = s.Secret
	return c
}

const (
	AnnLastApplied     = "kubectl.kubernetes.io/last-applied-configuration"
	maxTrackedManagers = 64
)

// keptAnnotations are the annotations live.OwnerHints reads; every other
// annotation is only hashed.
var keptAnnotations = []string{live.AnnHelmRelease, live.AnnHelmNamespace, live.AnnArgoTrackingID}

// Builder turns unstructured objects into snapshots.
type Builder struct {
	includeStatus bool
	seed          maphash.Seed
}

// NewBuilder returns a builder; includeStatus keeps status fields in the
// fingerprint and the owned paths.
func NewBuilder(includeStatus bool) *Builder {
	return &Builder{includeStatus: includeStatus, seed: maphash.MakeSeed()}
}

// Transform is a cache.TransformFunc: it turns every object the informer is
// about to store into a Snapshot. It is idempotent, as client-go requires.
// secret says the resource is core/v1 Secrets.
func (b *Builder) Transform(secret bool) func(any) (any, error) {
	return func(obj any) (any, error) {
		switch o := obj.(type) {
		case *Snapshot:
			return o, nil
		case *unstructured.Unstructured:
			return b.Build(o, secret)
		}
		return obj, nil
	}
}

// Build makes a snapshot of u. u is not modified.
func (b *Builder) Build(u *unstructured.Unstructured, secret bool) (*Snapshot, error) {
	// Strings most objects of a cluster share (namespace, kind, label keys
	// and values, manager names) are interned: one copy for all snapshots.
	s := &Snapshot{TypeMeta: metav1.TypeMeta{APIVersion: intern(u.GetAPIVersion()), Kind: intern(u.GetKind())}}
	s.Name = u.GetName()
	s.Namespace = intern(u.GetNamespace())
	s.UID = u.GetUID()
	s.ResourceVersion = u.GetResourceVersion()
	s.Generation = u.GetGeneration()
	s.Labels = InternLabels(u.GetLabels())
	if ann := u.GetAnnotations(); len(ann) > 0 {
		for _, k := range keptAnnotations {
			if v, ok := ann[k]; ok {
				if s.Annotations == nil {
					s.Annotations = map[string]string{}
				}
				s.Annotations[k] = v
			}
		}
	}
	s.OwnerReferences = u.GetOwnerReferences()

	listKeys := map[string][]string{}
	owned := map[string]uint64{}
	md, _ := u.Object["metadata"].(map[string]any)
	mfs, _ := md["managedFields"].([]any) // read in place: NestedSlice would copy it
	for i, e := range mfs {
		mf, _ := e.(map[string]any)
		str := func(k string) string { v, _ := mf[k].(string); return v }
		m := Manager{Name: intern(str("manager")), Operation: intern(str("operation")), Subresource: intern(str("subresource"))}
		if ts := str("time"); ts != "" {
			if t, err := time.Parse(time.RFC3339, ts); err == nil {
				m.Time = t.UTC()
			}
		}
		s.Managers = append(s.Managers, m)
		fields, _ := mf["fieldsV1"].(map[string]any)
		if fields == nil || i >= maxTrackedManagers {
			continue
		}
		o, err := tfkube.FromFieldsMap(fields)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: managedFields[%d] (%s): %w", s.Namespace, s.Name, i, m.Name, err)
		}
		for _, p := range o.Paths {
			if !b.includeStatus && tfkube.Top(p) == "status" {
				continue
			}
			owned[intern(p)] |= 1 << uint(i)
		}
		for p, k := range o.ListKeys {
			if _, ok := listKeys[p]; !ok {
				listKeys[p] = k
			}
		}
	}
	s.Owned = make([]OwnedPath, 0, len(owned))
	for p, m := range owned {
		s.Owned = append(s.Owned, OwnedPath{Path: p, Managers: m})
	}
	sort.Slice(s.Owned, func(i, j int) bool { return s.Owned[i].Path < s.Owned[j].Path })
	s.Owned = internOwned(s.Owned)

	f := flattener{b: b, secret: secret, listKeys: listKeys}
	for k, v := range u.Object {
		switch k {
		case "apiVersion", "kind":
			continue
		case "status":
			if !b.includeStatus {
				continue
			}
		case "metadata":
			md, ok := v.(map[string]any)
			if !ok {
				continue
			}
			for mk, mv := range md {
				if skippedMetadata(mk) {
					continue
				}
				f.walk(tfkube.Field("metadata", mk), mv)
			}
			continue
		}
		f.walk(tfkube.Field("", k), v)
	}
	s.SetLeaves(f.leaves)
	if secret {
		s.Secret = true
	}
	return s, nil
}

// skippedMetadata are never changes worth reporting: identity, and the
// API server's bookkeeping (managedFields changes with every write).
func skippedMetadata(field string) bool {
	return field == "name" || field == "namespace" || tfkube.Bookkeeping(field)
}

// Sensitive reports whether a Secret's field holds secret material: its
// data, its stringData, and kubectl's last-applied copy of both.
func Sensitive(path string) bool {
	return tfkube.Under(path, "data") || tfkube.Under(path, "stringData") ||
		path == lastAppliedPath
}

var lastAppliedPath = tfkube.Field(tfkube.Field("metadata", "annotations"), AnnLastApplied)

type flattener struct {
	b        *Builder
	secret   bool
	listKeys map[string][]string
	leaves   []Leaf
	buf      []byte
}

func (f *flattener) walk(path string, v any) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			f.leaf(path, v)
			return
		}
		for k, sub := range t {
			f.walk(tfkube.Field(path, k), sub)
		}
	case []any:
		elems, ok := maps(t)
		if !ok {
			f.leaf(path, v)
			return
		}
		keys := f.keysFor(path, elems)
		for i, e := range elems {
			if keys == nil {
				f.walk(tfkube.ListIndex(path, i), e)
				continue
			}
			kf := make([]tfkube.KeyField, len(keys))
			for j, k := range keys {
				kf[j] = tfkube.KeyField{Name: k, Value: keyScalar(e[k])}
			}
			f.walk(tfkube.Key(path, kf), e)
		}
	default:
		f.leaf(path, v)
	}
}

// keysFor chooses how to name the elements of a list of maps: the API
// server's key fields when managedFields tell them, else "name" when every
// element has a distinct one, else nil (by index).
func (f *flattener) keysFor(path string, elems []map[string]any) []string {
	if k := f.listKeys[path]; k != nil && distinct(elems, k) {
		return k
	}
	if distinct(elems, []string{"name"}) {
		return []string{"name"}
	}
	return nil
}

func distinct(elems []map[string]any, keys []string) bool {
	seen := make(map[string]bool, len(elems))
	for _, e := range elems {
		id := ""
		for _, k := range keys {
			v, ok := e[k]
			if !ok {
				return false
			}
			id += fmt.Sprintf("%T:%v\x00", v, v)
		}
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

func keyScalar(v any) any {
	switch t := v.(type) {
	case int:
		return int64(t)
	case int32:
		return int64(t)
	}
	return v
}

// maps returns the list's elements when it is a non-empty list of maps.
func maps(l []any) ([]map[string]any, bool) {
	if len(l) == 0 {
		return nil, false
	}
	out := make([]map[string]any, len(l))
	for i, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		out[i] = m
	}
	return out, true
}

func (f *flattener) leaf(path string, v any) {
	sensitive := f.secret && Sensitive(path)
	f.buf = appendValue(f.buf[:0], v)
	var h uint64
	if sensitive {
		h = maphash.Bytes(f.b.seed, f.buf)
	} else {
		h = xxhash.Sum64(f.buf)
	}
	if h == 0 {
		h = 1
	}
	f.leaves = append(f.leaves, Leaf{Path: intern(path), Hash: h, Sensitive: sensitive})
}

// appendValue appends a canonical, type-tagged encoding of a JSON value.
func appendValue(b []byte, v any) []byte {
	switch t := v.(type) {
	case nil:
		return append(b, 'n')
	case bool:
		if t {
			return append(b, 't')
		}
		return append(b, 'f')
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(t)), 10)
		b = append(b, ':')
		return append(b, t...)
	case int64:
		return strconv.AppendInt(append(b, 'i'), t, 10)
	case int:
		return strconv.AppendInt(append(b, 'i'), int64(t), 10)
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1<<53 {
			return strconv.AppendInt(append(b, 'i'), int64(t), 10)
		}
		return strconv.AppendFloat(append(b, 'd'), t, 'g', -1, 64)
	case []any:
		b = append(b, '[')
		for _, e := range t {
			b = append(appendValue(b, e), ',')
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for _, k := range keys {
			b = appendValue(appendValue(b, k), t[k])
		}
		return append(b, '}')
	}
	return fmt.Appendf(append(b, '?'), "%T:%v", v, v)
}

// intern shares one copy of each path string among all snapshots: most
// objects of a kind have the same paths.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// Intern is intern for the packages that rebuild snapshots (the inventory).
func Intern(s string) string { return intern(s) }

// InternLabels returns a map equal to l that snapshots share: objects of a
// kind mostly carry the same few label sets, and a map of two labels costs
// about 300 bytes. Keys and values are interned. Shared maps are never
// mutated (snapshots are not). nil when l is empty.
func InternLabels(l map[string]string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	keys := make([]string, 0, len(l))
	n := 0
	for k, v := range l {
		keys = append(keys, k)
		n += len(k) + len(v) + 2
	}
	sort.Strings(keys)
	b := make([]byte, 0, n)
	for _, k := range keys {
		b = append(append(append(append(b, k...), 0), l[k]...), 0)
	}
	labelSets.mu.Lock()
	defer labelSets.mu.Unlock()
	if m, ok := labelSets.m[string(b)]; ok {
		return m
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[intern(k)] = intern(v)
	}
	if len(labelSets.m) >= maxLabelSets {
		// Many distinct sets (a label unique to each object): start over
		// rather than grow; maps already handed out stay valid.
		labelSets.m = map[string]map[string]string{}
	}
	labelSets.m[string(b)] = out
	return out
}

// labelSets are the label maps InternLabels hands out, by their sorted
// key/value pairs; at most maxLabelSets are remembered.
var labelSets = struct {
	mu sync.Mutex
	m  map[string]map[string]string
}{m: map[string]map[string]string{}}

const maxLabelSets = 4096

// internOwned returns a slice equal to o that snapshots share: objects of a
// kind written by the same managers own the same fields (about 24 bytes
// per field and object otherwise). Shared slices are never mutated.
func internOwned(o []OwnedPath) []OwnedPath {
	if len(o) == 0 {
		return nil
	}
	n := 0
	for _, p := range o {
		n += len(p.Path) + 9
	}
	b := make([]byte, 0, n)
	for _, p := range o {
		b = binary.LittleEndian.AppendUint64(append(append(b, p.Path...), 0), p.Managers)
	}
	return ownedSets.share(b, slices.Clip(o))
}

// internPaths returns a slice equal to p that snapshots share (like
// internOwned: a leaf path costs 16 bytes per object otherwise).
func internPaths(p []string) []string {
	if len(p) == 0 {
		return nil
	}
	n := 0
	for _, x := range p {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for _, x := range p {
		b = append(append(b, x...), 0)
	}
	return pathSets.share(b, p)
}

// sharedSets remembers values by a key that encodes them, at most
// maxOwnedSets of them (then it starts over), so equal values are one.
type sharedSets[T any] struct {
	mu sync.Mutex
	m  map[string]T
}

// share returns the value remembered under key, or remembers v.
func (s *sharedSets[T]) share(key []byte, v T) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if shared, ok := s.m[string(key)]; ok {
		return shared
	}
	if s.m == nil || len(s.m) >= maxOwnedSets {
		s.m = map[string]T{}
	}
	s.m[string(key)] = v
	return v
}

// pathSets are the leaf-path slices internPaths hands out; ownedSets the
// owned-path slices internOwned hands out, by their paths and manager bits.
var (
	pathSets  sharedSets[[]string]
	ownedSets sharedSets[[]OwnedPath]
)

const maxOwnedSets = 4096

// SortLeaves sorts leaves by path, the order Changed needs.
func SortLeaves(l []Leaf) {
	sort.Slice(l, func(i, j int) bool { return l[i].Path < l[j].Path })
}

// List is a list of snapshots: what the watcher's list function hands the
// informer, so a full list never sits in memory as unstructured objects.
type List struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []*Snapshot
}

// DeepCopyObject implements runtime.Object.
func (l *List) DeepCopyObject() runtime.Object {
	c := &List{TypeMeta: l.TypeMeta}
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	c.Items = make([]*Snapshot, len(l.Items))
	for i, s := range l.Items {
		c.Items[i] = s.DeepCopyObject().(*Snapshot)
	}
	return c
}
