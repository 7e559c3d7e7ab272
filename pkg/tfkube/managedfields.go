package tfkube

// This file reads metadata.managedFields: which fields each field manager
// owns (FromFieldsV1, FromFieldsMap) and which manager owns each field
// (FieldOwners), in the notation of notation.go.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
)

// Owned is what one managedFields entry owns, in the field notation.
type Owned struct {
	// Paths are the owned fields, sorted, without duplicates. A member of a
	// set-like list (metadata.finalizers, v:"x") is owned as the list.
	Paths []string
	// ListKeys maps an associative list's path to its key field names, as
	// the API server keys it (containers by name, ports by port and
	// protocol).
	ListKeys map[string][]string
}

// FromFieldsV1 converts one managedFields[].fieldsV1 document.
func FromFieldsV1(raw []byte) (Owned, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return Owned{}, fmt.Errorf("parse fieldsV1: %w", err)
	}
	return FromFieldsMap(m)
}

// FromFieldsMap converts a fieldsV1 document already decoded from JSON (as
// an unstructured object holds it). Its keys are the API server's path
// elements: f:<field>, k:<key fields as JSON>, v:<value as JSON>, i:<index>,
// and "." (the element itself is owned, not only fields inside it).
func FromFieldsMap(m map[string]any) (Owned, error) {
	w := walker{seen: map[string]bool{}, o: Owned{ListKeys: map[string][]string{}}}
	if err := w.walk("", m); err != nil {
		return Owned{}, err
	}
	sort.Strings(w.o.Paths)
	return w.o, nil
}

type walker struct {
	seen map[string]bool
	o    Owned
}

func (w *walker) own(p string) {
	if p != "" && !w.seen[p] {
		w.seen[p] = true
		w.o.Paths = append(w.o.Paths, p)
	}
}

func (w *walker) walk(prefix string, m map[string]any) error {
	for k, v := range m {
		if k == "." {
			w.own(prefix)
			continue
		}
		if len(k) < 2 || k[1] != ':' {
			return fmt.Errorf("fieldsV1: bad path element %q under %q", k, prefix)
		}
		var p string
		switch k[0] {
		case 'f':
			p = Field(prefix, k[2:])
		case 'k':
			var kv map[string]any
			if err := json.Unmarshal([]byte(k[2:]), &kv); err != nil {
				return fmt.Errorf("fieldsV1: key %q under %q: %w", k, prefix, err)
			}
			key := make([]KeyField, 0, len(kv))
			names := make([]string, 0, len(kv))
			for n, v := range kv {
				key = append(key, KeyField{Name: n, Value: jsonScalar(v)})
				names = append(names, n)
			}
			if _, ok := w.o.ListKeys[prefix]; !ok {
				sort.Strings(names)
				w.o.ListKeys[prefix] = names
			}
			p = Key(prefix, key)
		case 'v':
			// A set member: the list is the field.
			w.own(prefix)
			continue
		case 'i':
			n, err := strconv.Atoi(k[2:])
			if err != nil {
				return fmt.Errorf("fieldsV1: index %q under %q: %w", k, prefix, err)
			}
			p = ListIndex(prefix, n)
		default:
			return fmt.Errorf("fieldsV1: bad path element %q under %q", k, prefix)
		}
		child, _ := v.(map[string]any)
		if len(child) == 0 {
			w.own(p)
			continue
		}
		if err := w.walk(p, child); err != nil {
			return err
		}
	}
	return nil
}

// jsonScalar turns a decoded JSON number that is an integer into int64, so
// key values print as the API server wrote them.
func jsonScalar(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	if s, ok := v.(string); ok {
		return strings.Clone(s)
	}
	return v
}

// FieldOwners maps every field owned in managedFields (the paths
// FromFieldsV1 lists: fields, owned list elements, owned containers) to the
// manager that owns it. Where several entries own the same field, the one
// ClaimsFirst puts first owns it. Fields under status are left out (a
// subresource nobody manages from Terraform); an entry whose fieldsV1 does
// not parse owns nothing.
func FieldOwners(mfs []metav1.ManagedFieldsEntry) map[string]events.Attribution {
	out := map[string]events.Attribution{}
	for _, mf := range mfs {
		if mf.FieldsV1 == nil {
			continue
		}
		o, err := FromFieldsV1(mf.FieldsV1.Raw)
		if err != nil {
			continue
		}
		a := events.Attribution{Manager: mf.Manager, Operation: string(mf.Operation)}
		if mf.Time != nil {
			t := mf.Time.UTC()
			a.Time = &t
		}
		for _, p := range o.Paths {
			if Top(p) == "status" {
				continue
			}
			if prev, ok := out[p]; ok && !ClaimsFirst(a, prev) {
				continue
			}
			out[p] = a
		}
	}
	return out
}

// ClaimsFirst orders the managers that own the same field, the owner
// first: the latest write (Time; none is the oldest), then at the same
// time an Apply over an Update (the applier declared the field; an Update
// may only have carried it along), then the manager name in byte order.
// The watcher's attribution, the inventory's and the gate's field owners
// and OwnerOf all order managers by it.
func ClaimsFirst(a, b events.Attribution) bool {
	at, bt := timeOf(a), timeOf(b)
	if !at.Equal(bt) {
		return at.After(bt)
	}
	aApply := a.Operation == string(metav1.ManagedFieldsOperationApply)
	bApply := b.Operation == string(metav1.ManagedFieldsOperationApply)
	if aApply != bApply {
		return aApply
	}
	return a.Manager < b.Manager
}

func timeOf(a events.Attribution) time.Time {
	if a.Time == nil {
		return time.Time{}
	}
	return *a.Time
}
