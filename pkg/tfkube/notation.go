package tfkube

// This file is driftgate's one notation for a field of a Kubernetes object:
// the watcher's changed paths, the planner's findings, the importer's
// verdicts, field owners and ignore rules all write fields this way, and
// users read it in alerts.
//
// A path is dotted from the object's root: spec.replicas, metadata.labels.app.
// Map keys are written as they are, dots included, as the planner writes
// them: metadata.labels.app.kubernetes.io/name (match such paths by prefix,
// not by splitting on dots). Only a key that is empty or contains '[', ']'
// or '"' is written as a quoted JSON string in brackets: data["odd[key]"].
// An element of an associative list is written with its key fields, sorted:
// spec.template.spec.containers[name=web].image,
// spec.ports[port=80,protocol=TCP].targetPort; a key value that is not a
// plain string is JSON. An element of a list without keys is written by
// index: spec.rules[0]. A list of scalars (args, finalizers) is one field.

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// KeyField is one key field of an associative list element.
type KeyField struct {
	Name  string
	Value any // string, int64, float64, bool or nil
}

// Field appends a map field to parent.
func Field(parent, name string) string {
	if plain(name, "[]\"") {
		if parent == "" {
			return name
		}
		return parent + "." + name
	}
	return parent + "[" + quote(name) + "]"
}

// Key appends an associative list element named by its key fields.
func Key(parent string, key []KeyField) string {
	ks := append([]KeyField(nil), key...)
	sort.Slice(ks, func(i, j int) bool { return ks[i].Name < ks[j].Name })
	var b strings.Builder
	b.WriteString(parent)
	b.WriteByte('[')
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		if plain(k.Name, ",=[]\"") {
			b.WriteString(k.Name)
		} else {
			b.WriteString(quote(k.Name))
		}
		b.WriteByte('=')
		b.WriteString(keyValue(k.Value))
	}
	b.WriteByte(']')
	return b.String()
}

// ListIndex appends a list element by position.
func ListIndex(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func keyValue(v any) string {
	if s, ok := v.(string); ok && plain(s, ",=[]\"") {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

func plain(s, special string) bool {
	return s != "" && !strings.ContainsAny(s, special)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Segments splits a path into its elements: "spec", ".replicas",
// "[name=web]", "[\"app.kubernetes.io/name\"]".
func Segments(p string) []string {
	var segs []string
	start := 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '.':
			if i > start {
				segs = append(segs, p[start:i])
			}
			start = i
		case '[':
			if i > start {
				segs = append(segs, p[start:i])
			}
			start = i
			i = closing(p, i)
			segs = append(segs, p[start:i+1])
			start = i + 1
		}
	}
	if start < len(p) {
		segs = append(segs, p[start:])
	}
	return segs
}

// closing returns the index of the ']' closing the '[' at open, skipping
// quoted strings; len(p)-1 when there is none.
func closing(p string, open int) int {
	inQuote := false
	for i := open + 1; i < len(p); i++ {
		switch {
		case inQuote && p[i] == '\\':
			i++
		case p[i] == '"':
			inQuote = !inQuote
		case !inQuote && p[i] == ']':
			return i
		}
	}
	return len(p) - 1
}

// Ancestors returns the proper prefixes of p that are paths themselves,
// shortest first: spec, spec.template, ... for spec.template.spec.replicas.
func Ancestors(p string) []string {
	segs := Segments(p)
	out := make([]string, 0, len(segs))
	n := 0
	for _, s := range segs[:max(len(segs)-1, 0)] {
		n += len(s)
		out = append(out, p[:n])
	}
	return out
}

// Under reports whether p is prefix itself or a path inside it.
func Under(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	if len(p) == len(prefix) {
		return true
	}
	c := p[len(prefix)]
	return c == '.' || c == '['
}

// Top is the first element of a path: "spec" for spec.replicas.
func Top(p string) string {
	if i := strings.IndexAny(p, ".["); i > 0 {
		return p[:i]
	}
	return p
}

// IsElement reports whether p ends with a list element ([name=web], [0])
// rather than a field or a bracketed map key (["a.b"]).
func IsElement(p string) bool {
	segs := Segments(p)
	if len(segs) == 0 {
		return false
	}
	s := segs[len(segs)-1]
	if len(s) < 2 || s[0] != '[' {
		return false
	}
	if s[1] != '"' {
		return true
	}
	// ["quoted"] is a map key; ["quoted"=v] is an element keyed by an odd name.
	end := closingQuote(s, 1)
	return end+1 < len(s) && s[end+1] == '='
}

func closingQuote(s string, open int) int {
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(s) - 1
}

// FieldMatches reports whether field path a lies at or below b, or b at or
// below a, ignoring list selectors: spec.template.spec.containers[0].image
// matches spec.template.spec.containers and
// spec.template.spec.containers[name=app].image. It is how a changed path
// is matched to ignore rules and to field owners, whose list selectors may
// differ (an attribute path knows an element's index, the cluster its key).
func FieldMatches(a, b string) bool {
	as, bs := FieldShape(a), FieldShape(b)
	n := min(len(as), len(bs))
	for i := 0; i < n; i++ {
		if as[i] != bs[i] {
			return false
		}
	}
	return true
}

// FieldUnder reports whether path lies at or below prefix, list selectors
// ignored (Under is the exact form).
func FieldUnder(path, prefix string) bool {
	ps, xs := FieldShape(path), FieldShape(prefix)
	if len(xs) > len(ps) {
		return false
	}
	for i := range xs {
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// FieldShape splits a field path into its names, dropping list selectors
// ([0], [name=x]) and numeric segments (the flattened keys of a manifest
// comparison, spec.containers.0.image). A bracketed map key (data["a[0]"])
// is a name.
func FieldShape(p string) []string {
	var out []string
	for _, seg := range Segments(p) {
		switch {
		case seg == "" || seg == ".":
			continue
		case seg[0] == '[':
			if len(seg) > 1 && seg[1] == '"' {
				if end := closingQuote(seg, 1); end+1 == len(seg)-1 {
					var k string
					if json.Unmarshal([]byte(seg[1:end+1]), &k) == nil {
						out = append(out, k)
					}
				}
			}
			continue
		case seg[0] == '.':
			seg = seg[1:]
		}
		if _, err := strconv.Atoi(seg); err == nil {
			continue
		}
		out = append(out, seg)
	}
	return out
}
