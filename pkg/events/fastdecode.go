package events

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/types"
	jsoniter "github.com/json-iterator/go"
)

// The replay's fast decoder.
//
// Decode parses a body three times (encoding/json checks it, the
// CloudEvents SDK reads the envelope, encoding/json reads the data into its
// type by reflection): most of a replay's CPU. decodeFast reads the body
// once, by hand, into the same Data, but only in the form driftgate's own
// Publisher writes (the envelope's specversion first, then only the
// attributes New sets, each once, as strings, datacontenttype
// application/json; the data's keys spelt as the struct tags, each once,
// each value of its field's JSON type). Whatever is outside that form —
// an unknown or repeated key, a key with an escape, a number where a string
// belongs, a non-string extension — makes it give up, and the caller
// decodes the body with Decode: the fast path is never the only judge. The
// rules in between are encoding/json's and the SDK's own: the same
// functions (url.Parse for the source, time.Parse, (*time.Time).UnmarshalJSON,
// json.Unmarshal for a string with escapes and for the few fields it does
// not read by hand: excerpts, counts, phases). TestFastDecodeAgrees and
// FuzzFastDecode hold it to Decode's results.

// decodeEvent is Decode for a replay: the envelope's type and subject and
// the validated data, or Decode's error.
func decodeEvent(body []byte) (typ, subject string, d Data, err error) {
	if fastDecode {
		if typ, subject, d, ok := decodeFast(body); ok && d.Validate() == nil {
			return typ, subject, d, nil
		}
	}
	ev, d, err := Decode(body)
	if err != nil {
		return "", "", nil, err
	}
	return ev.Type(), ev.Subject(), d, nil
}

// fastDecode is false only in tests that compare the two paths.
var fastDecode = true

// decodeFast reads body in the Publisher's form; ok is false when it is not
// in it (then it says nothing about the body: Decode decides). The data is
// not validated.
//
// The strings of the data share body's memory (no copy each): body must
// not change afterwards (Entry.Body says so).
func decodeFast(body []byte) (typ, subject string, d Data, ok bool) {
	if len(body) == 0 {
		return "", "", nil, false
	}
	r := reader{b: body, s: unsafe.String(&body[0], len(body))}
	r.ws()
	if !r.eat('{') {
		return "", "", nil, false
	}
	r.ws()
	if k, ok := r.key(); !ok || k != "specversion" {
		return "", "", nil, false
	}
	if v, ok := r.plain(); !ok || v != cloudevents.VersionV1 {
		return "", "", nil, false
	}
	const (
		seenID = 1 << iota
		seenSource
		seenType
		seenSubject
		seenContentType
		seenTime
		seenData
		seenWorkspace
		seenTraceparent
	)
	var seen int
	once := func(bit int) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	var id, source, ctype string
	for {
		r.ws()
		if r.eat('}') {
			break
		}
		if !r.eat(',') {
			return "", "", nil, false
		}
		r.ws()
		k, ok := r.key()
		if !ok {
			return "", "", nil, false
		}
		var v string
		switch k {
		case "data":
			// After the type, as New writes it: the type says what to
			// decode into.
			if !once(seenData) || seen&seenType == 0 || r.peek() != '{' {
				return "", "", nil, false
			}
			if d, ok = NewData(typ); !ok || !r.data(d) {
				return "", "", nil, false
			}
			continue
		case "id":
			ok = once(seenID)
		case "source":
			ok = once(seenSource)
		case "type":
			ok = once(seenType)
		case "subject":
			ok = once(seenSubject)
		case "datacontenttype":
			ok = once(seenContentType)
		case "time":
			ok = once(seenTime)
		case ExtWorkspace:
			ok = once(seenWorkspace)
		case ExtTraceparent:
			ok = once(seenTraceparent)
		default:
			ok = false
		}
		if !ok {
			return "", "", nil, false
		}
		if v, ok = r.attr(); !ok {
			return "", "", nil, false
		}
		switch k {
		case "id":
			id = v
		case "source":
			source = v
		case "type":
			typ = v
		case "subject":
			subject = v
		case "datacontenttype":
			ctype = v
		case "time":
			// The SDK: "" is no time, anything else RFC 3339.
			if v != "" {
				if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
					return "", "", nil, false
				}
			}
		}
	}
	r.ws()
	if r.i != len(r.b) || d == nil {
		return "", "", nil, false
	}
	// The envelope's validation (EventContextV1.Validate and what the
	// SDK's reader refuses), for the attributes allowed here.
	if strings.TrimSpace(id) == "" || strings.TrimSpace(typ) == "" || ctype != cloudevents.ApplicationJSON ||
		(subject != "" && strings.TrimSpace(subject) == "") || !validSource(source) {
		return "", "", nil, false
	}
	return typ, subject, d, true
}

// validSource: the SDK parses the source with url.Parse and wants it
// non-empty once printed. A stream has few sources (one per service
// instance), so verdicts are remembered, at most maxSources of them.
func validSource(s string) bool {
	if v, ok := sources.Load(s); ok {
		return v.(bool)
	}
	u := types.ParseURIRef(s)
	ok := u != nil && strings.TrimSpace(u.String()) != ""
	if nSources.Add(1) <= maxSources {
		sources.Store(strings.Clone(s), ok)
	}
	return ok
}

const maxSources = 1024

var (
	sources  sync.Map // source -> bool
	nSources atomic.Int64
)

// reader reads JSON by hand; s is b as a string (the same memory), so
// string values are slices of it and cost no copy of their own.
type reader struct {
	b []byte
	s string
	i int
}

func (r *reader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) peek() byte {
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *reader) eat(c byte) bool {
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

// plain reads a string of printable ASCII without escapes.
func (r *reader) plain() (string, bool) {
	if !r.eat('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.s[start : r.i-1], true
		case c < 0x20 || c == '\\' || c >= 0x7f:
			return "", false
		}
		r.i++
	}
	return "", false
}

// attr reads an envelope attribute's string as the SDK does: with
// json-iterator, once the escapes are checked as encoding/json checks
// them (Decode's json.Unmarshal checks the whole body first).
func (r *reader) attr() (string, bool) {
	start := r.i
	if s, ok := r.plain(); ok {
		return s, true
	}
	r.i = start
	if !r.eat('"') {
		return "", false
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			it := jsoniter.ConfigFastest.BorrowIterator(r.b[start:r.i])
			defer jsoniter.ConfigFastest.ReturnIterator(it)
			s := it.ReadString()
			return s, it.Error == nil
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", false
			}
			switch r.b[r.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i += 2
				continue
			case 'u':
				if r.i+6 > len(r.b) {
					return "", false
				}
				for _, h := range r.b[r.i+2 : r.i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return "", false
					}
				}
				r.i += 6
				continue
			}
			return "", false
		case c < 0x20:
			return "", false
		}
		r.i++
	}
	return "", false
}

// key reads an object key (a plain string) and the colon after it.
func (r *reader) key() (string, bool) {
	k, ok := r.plain()
	if !ok {
		return "", false
	}
	r.ws()
	if !r.eat(':') {
		return "", false
	}
	r.ws()
	return k, true
}

// str reads a JSON string as encoding/json does into a string field: a
// string without escapes in valid UTF-8 is itself; one with escapes or
// invalid UTF-8 goes through json.Unmarshal. null leaves the field as it
// is (zero here: every field is read once).
func (r *reader) str(p *string) bool {
	if r.null() {
		return true
	}
	if !r.eat('"') {
		return false
	}
	start := r.i
	ascii := true
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			s := r.s[start : r.i-1]
			if !ascii && !utf8.ValidString(s) {
				return json.Unmarshal(r.b[start-1:r.i], p) == nil
			}
			*p = s
			return true
		case c == '\\':
			return r.escaped(start-1, p)
		case c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
		r.i++
	}
	return false
}

// escaped finishes a string that started at start and has escapes.
func (r *reader) escaped(start int, p *string) bool {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '\\':
			r.i += 2
			continue
		case '"':
			r.i++
			return json.Unmarshal(r.b[start:r.i], p) == nil
		}
		r.i++
	}
	return false
}

func (r *reader) null() bool {
	if strings.HasPrefix(r.s[r.i:], "null") {
		r.i += 4
		return true
	}
	return false
}

func (r *reader) boolean(p *bool) bool {
	switch {
	case r.null():
	case strings.HasPrefix(r.s[r.i:], "true"):
		*p = true
		r.i += 4
	case strings.HasPrefix(r.s[r.i:], "false"):
		*p = false
		r.i += 5
	default:
		return false
	}
	return true
}

// int64 reads an integer as encoding/json does into an int64 (or int)
// field; a fraction or exponent is a type error there, so not here.
func (r *reader) int64(p *int64) bool {
	if r.null() {
		return true
	}
	neg := r.eat('-')
	digits := r.i
	var n int64
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		n = n*10 + int64(r.b[r.i]-'0')
		r.i++
	}
	nd := r.i - digits
	// JSON: no leading zero; 18 digits cannot overflow.
	if nd == 0 || nd > 18 || (nd > 1 && r.b[digits] == '0') {
		return false
	}
	if c := r.peek(); c == '.' || c == 'e' || c == 'E' {
		return false
	}
	if neg {
		n = -n
	}
	*p = n
	return true
}

func (r *reader) int(p *int) bool {
	var n int64
	if !r.int64(&n) {
		return false
	}
	*p = int(n)
	return true
}

// time reads a time.Time field: encoding/json hands the string, quotes
// included, to (*time.Time).UnmarshalJSON; null leaves it zero.
func (r *reader) time(p *time.Time) bool {
	if r.null() {
		return true
	}
	start := r.i
	var s string
	if !r.str(&s) {
		return false
	}
	return p.UnmarshalJSON(r.b[start:r.i]) == nil
}

// timePtr reads a *time.Time field: null is nil.
func (r *reader) timePtr(p **time.Time) bool {
	if r.null() {
		return true
	}
	t := new(time.Time)
	if !r.time(t) {
		return false
	}
	*p = t
	return true
}

// strings reads a []string field: null is nil, [] is empty, not nil, as
// encoding/json makes it.
func (r *reader) strings(p *[]string) bool {
	if r.null() {
		return true
	}
	out := []string{}
	ok := r.array(func() bool {
		var s string
		if !r.str(&s) {
			return false
		}
		out = append(out, s)
		return true
	})
	if ok {
		*p = out
	}
	return ok
}

// array reads a JSON array, elem reading each element.
func (r *reader) array(elem func() bool) bool {
	if !r.eat('[') {
		return false
	}
	r.ws()
	if r.eat(']') {
		return true
	}
	for {
		r.ws()
		if !elem() {
			return false
		}
		r.ws()
		if r.eat(']') {
			return true
		}
		if !r.eat(',') {
			return false
		}
	}
}

// object reads a JSON object whose keys are among keys, each at most once,
// field reading the value of keys[i]. null leaves the struct as it is.
func (r *reader) object(keys []string, field func(i int) bool) bool {
	if r.null() {
		return true
	}
	if !r.eat('{') {
		return false
	}
	r.ws()
	if r.eat('}') {
		return true
	}
	var seen uint64
	for {
		r.ws()
		k, ok := r.key()
		if !ok {
			return false
		}
		i := indexOf(keys, k)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		if !field(i) {
			return false
		}
		r.ws()
		if r.eat('}') {
			return true
		}
		if !r.eat(',') {
			return false
		}
	}
}

func indexOf(keys []string, k string) int {
	for i, s := range keys {
		if s == k {
			return i
		}
	}
	return -1
}

// std reads a value with encoding/json itself: for fields read rarely or
// of a shape not worth reading by hand (maps, excerpts).
func (r *reader) std(p any) bool {
	start := r.i
	if !r.skip() {
		return false
	}
	return json.Unmarshal(r.b[start:r.i], p) == nil
}

// skip passes over one JSON value, finding only where it ends;
// json.Unmarshal checks the rest.
func (r *reader) skip() bool {
	depth := 0
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			r.i++
			for r.i < len(r.b) && r.b[r.i] != '"' {
				if r.b[r.i] == '\\' {
					r.i++
				}
				r.i++
			}
			if r.i >= len(r.b) {
				return false
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return true // the end of the enclosing value
			}
			depth--
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return true
			}
		}
		r.i++
		if depth == 0 && (r.b[r.i-1] == '"' || r.b[r.i-1] == '}' || r.b[r.i-1] == ']') {
			return true
		}
	}
	return depth == 0
}

// data reads the event's data into d.
func (r *reader) data(d Data) bool {
	switch d := d.(type) {
	case *ObjectChanged:
		return r.objectChanged(d)
	case *ClusterHealth:
		return r.clusterHealth(d)
	case *PlanCompleted:
		return r.planCompleted(d)
	case *DriftDetected:
		return r.driftDetected(d)
	case *DriftResolved:
		return r.driftResolved(d)
	case *Import:
		return r.importData(d)
	case *Alert:
		return r.alert(d)
	case *SourceUpdated:
		return r.sourceUpdated(d)
	}
	return false
}

var objectRefKeys = []string{"cluster", "group", "version", "kind", "namespace", "name", "uid"}

func (r *reader) objectRef(o *ObjectRef) bool {
	return r.object(objectRefKeys, func(i int) bool {
		return r.str([]*string{&o.Cluster, &o.Group, &o.Version, &o.Kind, &o.Namespace, &o.Name, &o.UID}[i])
	})
}

var attributionKeys = []string{"manager", "operation", "time", "path"}

// attribution reads an Attribution, or a PathOwner when path is not nil.
func (r *reader) attribution(a *Attribution, path *string) bool {
	return r.object(attributionKeys, func(i int) bool {
		switch i {
		case 0:
			return r.str(&a.Manager)
		case 1:
			return r.str(&a.Operation)
		case 2:
			return r.timePtr(&a.Time)
		}
		return path != nil && r.str(path)
	})
}

func (r *reader) pathOwners(p *[]PathOwner) bool {
	if r.null() {
		return true
	}
	out := []PathOwner{}
	ok := r.array(func() bool {
		out = append(out, PathOwner{})
		o := &out[len(out)-1]
		return r.attribution(&o.Attribution, &o.Path)
	})
	if ok {
		*p = out
	}
	return ok
}

var ownerHintsKeys = []string{"helm", "argocd", "owner_references"}
var helmKeys = []string{"release", "namespace", "record"}
var ownerRefKeys = []string{"api_version", "kind", "name", "uid", "controller"}

func (r *reader) ownerHints(h *OwnerHints) bool {
	return r.object(ownerHintsKeys, func(i int) bool {
		switch i {
		case 0:
			if r.null() {
				return true
			}
			hr := new(HelmRelease)
			h.Helm = hr
			return r.object(helmKeys, func(i int) bool {
				switch i {
				case 0:
					return r.str(&hr.Release)
				case 1:
					return r.str(&hr.Namespace)
				}
				return r.boolean(&hr.Record)
			})
		case 1:
			return r.str(&h.ArgoCD)
		}
		if r.null() {
			return true
		}
		out := []OwnerReference{}
		ok := r.array(func() bool {
			out = append(out, OwnerReference{})
			o := &out[len(out)-1]
			return r.object(ownerRefKeys, func(i int) bool {
				if i == 4 {
					return r.boolean(&o.Controller)
				}
				return r.str([]*string{&o.APIVersion, &o.Kind, &o.Name, &o.UID}[i])
			})
		})
		h.OwnerReferences = out
		return ok
	})
}

var objectChangedKeys = []string{"object", "resource", "change", "resource_version", "generation", "paths",
	"attribution", "managers", "owners", "relist", "observed_at"}

func (r *reader) objectChanged(d *ObjectChanged) bool {
	return r.object(objectChangedKeys, func(i int) bool {
		switch i {
		case 0:
			return r.objectRef(&d.Object)
		case 1:
			return r.str(&d.Resource)
		case 2:
			return r.str(&d.Change)
		case 3:
			return r.str(&d.ResourceVersion)
		case 4:
			return r.int64(&d.Generation)
		case 5:
			return r.strings(&d.Paths)
		case 6:
			return r.pathOwners(&d.Attribution)
		case 7:
			return r.pathOwners(&d.Managers)
		case 8:
			return r.ownerHints(&d.Owners)
		case 9:
			return r.boolean(&d.Relist)
		}
		return r.time(&d.ObservedAt)
	})
}

var clusterHealthKeys = []string{"cluster", "component", "condition", "status", "severity", "node", "workspace",
	"reason", "message", "duration", "since", "observed_at"}

func (r *reader) clusterHealth(d *ClusterHealth) bool {
	return r.object(clusterHealthKeys, func(i int) bool {
		switch i {
		case 10:
			return r.time(&d.Since)
		case 11:
			return r.time(&d.ObservedAt)
		}
		return r.str([]*string{&d.Cluster, &d.Component, &d.Condition, &d.Status, &d.Severity, &d.Node, &d.WS,
			&d.Reason, &d.Message, &d.Duration}[i])
	})
}

var planCompletedKeys = []string{"workspace", "plan_id", "trigger", "tool", "tool_version", "revision", "error",
	"full", "targets", "changes", "counts", "state_serial", "pending_config", "duration_ms", "started_at", "phases_ms", "scoped_state"}

func (r *reader) planCompleted(d *PlanCompleted) bool {
	return r.object(planCompletedKeys, func(i int) bool {
		switch i {
		case 7:
			return r.boolean(&d.Full)
		case 8:
			return r.strings(&d.Targets)
		case 9:
			return r.int(&d.Changes)
		case 10:
			return r.std(&d.Counts)
		case 11:
			return r.int64(&d.StateSerial)
		case 12:
			return r.std(&d.PendingConfig)
		case 13:
			return r.int64(&d.DurationMS)
		case 14:
			return r.time(&d.StartedAt)
		case 15:
			return r.std(&d.PhasesMS)
		case 16:
			return r.boolean(&d.ScopedState)
		}
		return r.str([]*string{&d.WS, &d.PlanID, &d.Trigger, &d.Tool, &d.ToolVersion, &d.Revision, &d.Error}[i])
	})
}

var findingKeys = []string{"id", "workspace", "address", "class", "risk", "import_id", "recommended_action", "state",
	"revision", "object", "paths", "attribution", "first_seen", "last_seen", "announced_serial"}

func (r *reader) finding(f *Finding) bool {
	return r.object(findingKeys, func(i int) bool {
		switch i {
		case 9:
			return r.objectRef(&f.Object)
		case 10:
			return r.strings(&f.Paths)
		case 11:
			if r.null() {
				return true
			}
			out := []Attribution{}
			ok := r.array(func() bool {
				out = append(out, Attribution{})
				return r.attribution(&out[len(out)-1], nil)
			})
			f.Attribution = out
			return ok
		case 12:
			return r.time(&f.FirstSeen)
		case 13:
			return r.time(&f.LastSeen)
		case 14:
			return r.int64(&f.AnnouncedSerial)
		}
		return r.str([]*string{&f.ID, &f.Workspace, &f.Address, &f.Class, &f.Risk, &f.ImportID, &f.RecommendedAction,
			&f.State, &f.Revision}[i])
	})
}

var driftDetectedKeys = []string{"finding", "excerpt", "plan_id", "reason", "state_serial", "revision"}

func (r *reader) driftDetected(d *DriftDetected) bool {
	return r.object(driftDetectedKeys, func(i int) bool {
		switch i {
		case 0:
			return r.finding(&d.Finding)
		case 1:
			return r.std(&d.Excerpt)
		case 2:
			return r.str(&d.PlanID)
		case 3:
			return r.str(&d.Reason)
		case 4:
			return r.int64(&d.StateSerial)
		}
		return r.str(&d.Revision)
	})
}

var driftResolvedKeys = []string{"finding", "plan_id", "reason"}

func (r *reader) driftResolved(d *DriftResolved) bool {
	return r.object(driftResolvedKeys, func(i int) bool {
		switch i {
		case 0:
			return r.finding(&d.Finding)
		case 1:
			return r.str(&d.PlanID)
		}
		return r.str(&d.Reason)
	})
}

var importKeys = []string{"request_id", "workspace", "finding_id", "address", "import_id", "risk", "policy",
	"revision", "by", "reason", "step", "state_version_before", "state_version_after",
	"object", "state_serial", "attempt", "diff", "duration_ms", "at"}

func (r *reader) importData(d *Import) bool {
	return r.object(importKeys, func(i int) bool {
		switch i {
		case 13:
			return r.objectRef(&d.Object)
		case 14:
			return r.int64(&d.StateSerial)
		case 15:
			return r.int(&d.Attempt)
		case 16:
			return r.strings(&d.Diff)
		case 17:
			return r.int64(&d.DurationMS)
		case 18:
			return r.time(&d.At)
		}
		return r.str([]*string{&d.RequestID, &d.WS, &d.FindingID, &d.Address, &d.ImportID, &d.Risk, &d.Policy,
			&d.Revision, &d.By, &d.Reason, &d.Step, &d.StateVersionBefore, &d.StateVersionAfter}[i])
	})
}

var alertKeys = []string{"sink", "event_id", "event_type", "workspace", "error", "finding_ids", "attempts",
	"status_code", "at"}

func (r *reader) alert(d *Alert) bool {
	return r.object(alertKeys, func(i int) bool {
		switch i {
		case 5:
			return r.strings(&d.FindingIDs)
		case 6:
			return r.int(&d.Attempts)
		case 7:
			return r.int(&d.StatusCode)
		case 8:
			return r.time(&d.At)
		}
		return r.str([]*string{&d.Sink, &d.EventID, &d.ForType, &d.WS, &d.Error}[i])
	})
}

var sourceUpdatedKeys = []string{"workspace", "url", "ref", "path", "commit", "previous", "message", "trigger",
	"committed_at", "at"}

func (r *reader) sourceUpdated(d *SourceUpdated) bool {
	return r.object(sourceUpdatedKeys, func(i int) bool {
		switch i {
		case 8:
			return r.time(&d.CommittedAt)
		case 9:
			return r.time(&d.At)
		}
		return r.str([]*string{&d.WS, &d.URL, &d.Ref, &d.Path, &d.Commit, &d.Previous, &d.Message, &d.Trigger}[i])
	})
}
