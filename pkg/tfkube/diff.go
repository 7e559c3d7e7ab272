package tfkube

// This file compares attribute values the way drift is judged: null,
// empty and zero are all "unset".

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// Diff returns the paths at which before and after differ, as deep as both
// sides are maps or lists. Null, empty strings, zero, false, and empty maps
// and lists are all "unset" and equal to each other, so a provider's
// null-versus-empty churn is not a difference.
func Diff(before, after any) []Path {
	var out []Path
	diff(nil, before, after, &out)
	return out
}

func diff(p Path, a, b any, out *[]Path) {
	a, b = normalize(a), normalize(b)
	if Equal(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, dup := am[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			diff(append(p[:len(p):len(p)], k), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		n := max(len(al), len(bl))
		for i := 0; i < n; i++ {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			diff(append(p[:len(p):len(p)], i), x, y, out)
		}
		return
	}
	// One side is a container and the other unset: descend so the paths
	// name the leaves that appeared or went away (metadata.labels.team, not
	// metadata.labels).
	if isZero(a) && isContainer(b) {
		diff(p, emptyLike(b), b, out)
		return
	}
	if isZero(b) && isContainer(a) {
		diff(p, a, emptyLike(a), out)
		return
	}
	*out = append(*out, append(Path(nil), p...))
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func emptyLike(v any) any {
	switch v.(type) {
	case map[string]any:
		return map[string]any{}
	case []any:
		return []any{}
	}
	return nil
}

// Equal compares two values with unset-equivalence (see Diff).
func Equal(a, b any) bool {
	a, b = normalize(a), normalize(b)
	if isZero(a) && isZero(b) {
		return true
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, v := range am {
			if !Equal(v, bm[k]) {
				return false
			}
		}
		for k, v := range bm {
			if _, ok := am[k]; !ok && !isZero(normalize(v)) {
				return false
			}
		}
		return true
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if len(al) != len(bl) {
			return false
		}
		for i := range al {
			if !Equal(al[i], bl[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(normalize(e)) {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

// Scalar renders a scalar value as text the way YAML and kubectl show it:
// 3 (not 3.000000e+00), true, strings as they are.
func Scalar(v any) string {
	switch x := normalize(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
