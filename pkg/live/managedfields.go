package live

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
)

// FieldOwners maps every field path owned in managedFields to its manager.
// Paths are dotted; list elements keyed by merge keys read [name=web], by
// value [v], by position [3]. Where managers share a field, the latest
// writer owns it. Status is left out (a subresource nobody manages from
// Terraform).
func FieldOwners(mfs []metav1.ManagedFieldsEntry) map[string]events.Attribution {
	out := map[string]events.Attribution{}
	when := map[string]time.Time{}
	for _, mf := range mfs {
		if mf.FieldsV1 == nil || mf.Subresource == "status" {
			continue
		}
		var tree map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &tree); err != nil {
			continue
		}
		a := events.Attribution{Manager: mf.Manager, Operation: string(mf.Operation)}
		var t time.Time
		if mf.Time != nil {
			t = mf.Time.UTC()
			a.Time = &t
		}
		for _, p := range fieldLeaves("", tree) {
			if strings.HasPrefix(p, "status") {
				continue
			}
			if prev, ok := when[p]; ok && prev.After(t) {
				continue
			}
			when[p] = t
			out[p] = a
		}
	}
	return out
}

func fieldLeaves(prefix string, tree map[string]any) []string {
	var out []string
	keys := make([]string, 0, len(tree))
	for k := range tree {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "." {
			continue
		}
		seg, isList := segment(k)
		p := prefix
		if isList {
			p += seg
		} else if p == "" {
			p = seg
		} else {
			p += "." + seg
		}
		child, _ := tree[k].(map[string]any)
		if len(child) == 0 || (len(child) == 1 && child["."] != nil) {
			out = append(out, p)
			continue
		}
		out = append(out, fieldLeaves(p, child)...)
	}
	return out
}

// segment renders one managedFields key: f:name, k:{"name":"web"},
// v:"value", i:3.
func segment(k string) (string, bool) {
	typ, rest, _ := strings.Cut(k, ":")
	switch typ {
	case "f":
		return rest, false
	case "k":
		var m map[string]any
		if err := json.Unmarshal([]byte(rest), &m); err != nil {
			return "[" + rest + "]", true
		}
		keys := make([]string, 0, len(m))
		for mk := range m {
			keys = append(keys, mk)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, mk := range keys {
			parts[i] = fmt.Sprintf("%s=%v", mk, m[mk])
		}
		return "[" + strings.Join(parts, ",") + "]", true
	case "v":
		var v any
		if err := json.Unmarshal([]byte(rest), &v); err == nil {
			return fmt.Sprintf("[%v]", v), true
		}
		return "[" + rest + "]", true
	case "i":
		return "[" + rest + "]", true
	}
	return k, false
}
