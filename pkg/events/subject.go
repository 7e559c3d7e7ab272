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
	if s == "" {
		return emptyTokenValue
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte(escapeChar)
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
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
	return TypeSubject(d.EventType()) + "." + Key(subjectTokens(d)...)
}

func subjectTokens(d Data) []string {
	switch d := d.(type) {
	case *ObjectChanged:
		o := d.Object
		return []string{o.Cluster, o.Group, o.Kind, o.Namespace, o.Name}
	case *ClusterHealth:
		return []string{d.Cluster, d.Component, d.Node, d.WS}
	case *PlanCompleted:
		return []string{d.WS}
	case *DriftDetected:
		return []string{d.Finding.Workspace, d.Finding.Address}
	case *DriftResolved:
		return []string{d.Finding.Workspace, d.Finding.Address}
	case *Import:
		return []string{d.WS, d.Address}
	case *Alert:
		return []string{d.Sink}
	}
	return []string{d.Subject()}
}

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
