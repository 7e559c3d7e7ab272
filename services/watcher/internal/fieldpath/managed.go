package fieldpath

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Owned is what one managedFields entry owns, in this package's notation.
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
			p = Index(prefix, n)
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
