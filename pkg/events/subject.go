package events

import (
	"fmt"
	"strings"
)

// Stream and subject layout.
const (
	StreamName      = "DRIFTGATE"
	SubjectRoot     = "driftgate"
	StreamSubjects  = SubjectRoot + ".>"
	DeadLetterRoot  = SubjectRoot + ".deadletter"
	escapeChar      = '='
	hexDigits       = "0123456789ABCDEF"
	emptyTokenValue = "="
)

// EscapeToken turns any string into one valid NATS subject token and KV key
// segment: bytes outside [A-Za-z0-9_-] become =XX (hex), the empty string
// becomes "=". UnescapeToken reverses it exactly.
func EscapeToken(s string) string {
	return string(appendToken(nil, s))
}

// appendToken appends EscapeToken(s) to b.
func appendToken(b []byte, s string) []byte {
	if s == "" {
		return append(b, emptyTokenValue...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b = append(b, c)
			continue
		}
		b = append(b, escapeChar, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// UnescapeToken reverses EscapeToken.
func UnescapeToken(t string) (string, error) {
	if t == emptyTokenValue {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != escapeChar {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(t) {
			return "", fmt.Errorf("token %q: truncated escape at byte %d", t, i)
		}
		hi, lo := unhex(t[i+1]), unhex(t[i+2])
		if hi < 0 || lo < 0 {
			return "", fmt.Errorf("token %q: bad escape %q", t, t[i:i+3])
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// Key joins escaped parts with '.': a NATS subject fragment or KV key.
func Key(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = EscapeToken(p)
	}
	return strings.Join(esc, ".")
}

// SplitKey reverses Key.
func SplitKey(k string) ([]string, error) {
	toks := strings.Split(k, ".")
	for i, t := range toks {
		s, err := UnescapeToken(t)
		if err != nil {
			return nil, err
		}
		toks[i] = s
	}
	return toks, nil
}

// TypeSubject is the subject prefix of an event type:
// dev.driftgate.drift.detected.v1 -> driftgate.drift.detected.
func TypeSubject(eventType string) string {
	nv := strings.TrimPrefix(eventType, "dev.driftgate.")
	if i := strings.LastIndex(nv, ".v"); i > 0 {
		nv = nv[:i]
	}
	return SubjectRoot + "." + nv
}

// NATSSubject is the subject an event with this data is stored under:
// the type's prefix, then the escaped tokens of what it is about.
func NATSSubject(d Data) string {
	return string(appendNATSSubject(nil, d))
}

// storedUnder reports whether subject is NATSSubject(d), without building
// it on the heap: a replay asks it of every event.
func storedUnder(subject string, d Data) bool {
	var buf [256]byte
	return string(appendNATSSubject(buf[:0], d)) == subject
}

func appendNATSSubject(b []byte, d Data) []byte {
	typ := d.EventType()
	if p, ok := typeSubjects[typ]; ok {
		b = append(b, p...)
	} else {
		b = append(b, TypeSubject(typ)...)
	}
	switch d := d.(type) {
	case *ObjectChanged:
		o := d.Object
		return appendKey(b, o.Cluster, o.Group, o.Kind, o.Namespace, o.Name)
	case *ClusterHealth:
		return appendKey(b, d.Cluster, d.Component, d.Node, d.WS)
	case *PlanCompleted:
		return appendKey(b, d.WS)
	case *DriftDetected:
		return appendKey(b, d.Finding.Workspace, d.Finding.Address)
	case *DriftResolved:
		return appendKey(b, d.Finding.Workspace, d.Finding.Address)
	case *Import:
		return appendKey(b, d.WS, d.Address)
	case *Alert:
		return appendKey(b, d.Sink)
	}
	return appendKey(b, d.Subject())
}

// appendKey appends "." and Key(parts...) to b.
func appendKey(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = appendToken(append(b, '.'), p)
	}
	return b
}

// typeSubjects is TypeSubject of every type of the contract.
var typeSubjects = func() map[string]string {
	m := make(map[string]string, len(registry))
	for t := range registry {
		m[t] = TypeSubject(t)
	}
	return m
}()

// SubjectFilter turns a type prefix as users write it ("import",
// "drift.detected", "dev.driftgate.import", "dev.driftgate.object.changed.v1")
// into a subject filter, or "" when the prefix does not end on a token
// boundary and must be matched on the type itself.
func SubjectFilter(typePrefix string) string {
	p := strings.TrimSuffix(strings.TrimSuffix(typePrefix, ".*"), ".")
	switch {
	case p == "" || p == "dev.driftgate" || p == "dev":
		return StreamSubjects
	case strings.HasPrefix(p, "dev.driftgate."):
		p = strings.TrimPrefix(p, "dev.driftgate.")
	case strings.HasPrefix("dev.driftgate.", p+"."):
		return StreamSubjects
	}
	toks := strings.Split(p, ".")
	if n := len(toks); n == 3 && strings.HasPrefix(toks[2], "v") {
		toks = toks[:2]
	}
	if len(toks) > 2 {
		return ""
	}
	known := false
	for _, t := range knownTypes() {
		nv := strings.TrimPrefix(TypeSubject(t), SubjectRoot+".")
		if nv == strings.Join(toks, ".") || strings.HasPrefix(nv, strings.Join(toks, ".")+".") {
			known = true
			break
		}
	}
	if !known {
		return ""
	}
	return SubjectRoot + "." + strings.Join(toks, ".") + ".>"
}
