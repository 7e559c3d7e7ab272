package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
)

// The replay's fast decoder (fastdecode.go) must never disagree with
// Decode: on every body it accepts, Decode accepts it too with the same
// type, subject and data; everything else goes to Decode. These tests hold
// it to that on events as the Publisher writes them (every type, every
// field set, strings that need escapes, invalid UTF-8, Secret canaries in
// excerpts), on hostile changes of them, and under go test -fuzz.

// fill sets every exported field of v (a struct) from rng: strings from a
// list that includes ones JSON must escape, times in several zones,
// pointers nil or not, slices nil, empty or full, maps.
func fill(rng *rand.Rand, v reflect.Value) {
	strs := []string{"", "a", "lab", "shop", "kubernetes_config_map.c1", "spec.replicas", "ümlaut-名前",
		`quote"and\backslash`, "new\nline\ttab", "<html>&amp;", "\x00\x1f ctl", "bad-utf8-\xff\xfe", "  ", "Secret-canary-7f3a",
		"(sensitive)", "\u2028sep", "trailing space "}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[rng.IntN(len(strs))])
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int64:
		v.SetInt([]int64{0, 1, -1, 42, 1 << 40, -(1 << 50), 999999999999999999}[rng.IntN(7)])
	case reflect.Pointer:
		if rng.IntN(3) == 0 {
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(rng, p.Elem())
		v.Set(p)
	case reflect.Slice:
		switch rng.IntN(4) {
		case 0:
			return
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		default:
			n := 1 + rng.IntN(3)
			s := reflect.MakeSlice(v.Type(), n, n)
			for i := range n {
				fill(rng, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Map:
		if rng.IntN(3) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := range 1 + rng.IntN(3) {
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString(fmt.Sprintf("k%d-%s", i, strs[rng.IntN(len(strs))]))
			e := reflect.New(v.Type().Elem()).Elem()
			if e.Kind() == reflect.Interface {
				if x := []any{"Secret-canary-7f3a", 1.5, true, nil, map[string]any{"x": []any{"(sensitive)"}}}[rng.IntN(5)]; x != nil {
					e.Set(reflect.ValueOf(x))
				}
			} else {
				fill(rng, e)
			}
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			zones := []*time.Location{time.UTC, time.FixedZone("", 5*3600+1800), time.FixedZone("", -8*3600)}
			t := time.Date(2000+rng.IntN(30), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60),
				[]int{0, 1, 123456789, 500000000}[rng.IntN(4)], zones[rng.IntN(len(zones))])
			if rng.IntN(5) == 0 {
				t = time.Time{}
			}
			v.Set(reflect.ValueOf(t))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(rng, v.Field(i))
			}
		}
	}
}

// makeValid overwrites what Validate checks, so most bodies are valid.
func makeValid(d Data) {
	obj := func(o *ObjectRef) {
		o.Cluster, o.Kind, o.Version, o.Name, o.UID = "lab", "Deployment", "v1", "app-1", "u-1"
		if badSegment(o.Namespace) {
			o.Namespace = "shop"
		}
	}
	fnd := func(f *Finding) {
		f.ID, f.Workspace, f.Address, f.Class, f.Risk = "f-1", "marketplace", "kubernetes_deployment.x", ClassChanged, RiskHigh
	}
	switch d := d.(type) {
	case *ObjectChanged:
		obj(&d.Object)
		d.ResourceVersion, d.Change = "42", ChangeDeleted
	case *ClusterHealth:
		d.Cluster, d.Component, d.Condition, d.Status, d.Severity = "lab", "apiserver", "Unreachable", "True", SeverityWarning
	case *PlanCompleted:
		d.WS, d.PlanID = "marketplace", "p-1"
	case *DriftDetected:
		fnd(&d.Finding)
		d.PlanID = "p-1"
	case *DriftResolved:
		fnd(&d.Finding)
		d.PlanID = "p-1"
	case *Import:
		d.RequestID, d.WS, d.Address, d.By, d.Reason = "r-1", "marketplace", "kubernetes_namespace.shop", "alice", "because"
	case *Alert:
		d.Sink, d.EventID, d.Error = "ops", "e-1", "500"
	case *SourceUpdated:
		d.WS, d.Commit = "marketplace", "0123456789abcdef"
	}
}

// corpus: for every type, bodies as the Publisher writes them (New), and
// ones whose data Validate refuses (written by the SDK without New).
func corpus(t testing.TB, perType int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var out [][]byte
	for _, typ := range Types() {
		for i := range perType {
			d, _ := NewData(typ)
			fill(rng, reflect.ValueOf(d).Elem())
			valid := i%4 != 3
			if valid {
				makeValid(d)
			}
			var e cloudevents.Event
			if valid {
				var err error
				if e, err = New("driftgate/test/host-1", d); err != nil {
					t.Fatalf("%s: %v", typ, err)
				}
				if i%2 == 0 {
					e.SetExtension(ExtTraceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
				}
			} else {
				e = cloudevents.NewEvent()
				e.SetID(fmt.Sprintf("id-%d", i))
				e.SetType(typ)
				e.SetSource("driftgate/test/host-1")
				e.SetTime(time.Now())
				if err := e.SetData(cloudevents.ApplicationJSON, d); err != nil {
					t.Fatal(err)
				}
			}
			b, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// hostile returns changed copies of a canonical body: what a stranger
// publishing into the stream, or a broken writer, could store.
func hostile(rng *rand.Rand, body []byte) [][]byte {
	s := string(body)
	var out []string
	// Whole-body edits.
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, body, "", "  ")
	out = append(out, pretty.String(), " "+s+"\n", s+"x", s+"{}", s[:len(s)-1], s[:len(s)/2], "", "null", "[]", `"x"`,
		strings.Replace(s, `"specversion":"1.0",`, ``, 1)+``,
		strings.Replace(s, `{"specversion":"1.0",`, `{`, 1)[:len(s)-21]+`,"specversion":"1.0"}`,
		strings.Replace(s, `"specversion":"1.0"`, `"specversion":"0.3"`, 1),
		strings.Replace(s, `"specversion":"1.0"`, `"specversion":"1.0","specversion":"1.0"`, 1),
		strings.Replace(s, `"datacontenttype":"application/json"`, `"datacontenttype":"text/json"`, 1),
		strings.Replace(s, `"datacontenttype":"application/json",`, ``, 1),
		strings.Replace(s, `"datacontenttype":"application/json"`, `"datacontenttype":"application/json; charset=utf-8"`, 1),
		strings.Replace(s, `"source":"driftgate/test/host-1"`, `"source":"%zz"`, 1),
		strings.Replace(s, `"source":"driftgate/test/host-1"`, `"source":"http://[::1"`, 1),
		strings.Replace(s, `"source":"driftgate/test/host-1"`, `"source":" "`, 1),
		strings.Replace(s, `"id":"`, `"id":" `, 1),
		strings.Replace(s, `"data":{`, `"data":null,"x":{`, 1),
		strings.Replace(s, `"data":{`, `"data_base64":"e30=","x":{`, 1),
		strings.Replace(s, `"data":{`, `"data":{},"data":{`, 1),
		strings.Replace(s, `"data":{`, `"Data":{`, 1),
		strings.Replace(s, `"data":{`, `"dat\u0061":{`, 1),
		strings.Replace(s, `"time":"`, `"time":"x`, 1),
		strings.Replace(s, `"time":"`, `"time":1,"t":"`, 1),
		strings.Replace(s, `"subject":"`, `"subject":"  `, 1),
		strings.Replace(s, `"subject":"`, `"subject":"\u0041`, 1),
		strings.Replace(s, `"type":"dev.`, `"type":"Dev.`, 1),
		strings.Replace(s, `"type":"dev.`, `"type":" dev.`, 1),
		strings.Replace(s, `"workspace":"`, `"workspace":1,"w":"`, 1),
		strings.Replace(s, `}`, `,"unknownext":"x"}`, 1),
	)
	// Data edits: the first key of data repeated, in another case,
	// escaped, or its value another JSON type; null and empty values.
	if i := strings.Index(s, `"data":{"`); i >= 0 {
		rest := s[i+len(`"data":{"`):]
		if j := strings.Index(rest, `"`); j > 0 {
			key := rest[:j]
			pre := s[:i+len(`"data":{`)]
			after := rest[j+2:] // past `":`
			out = append(out,
				pre+`"`+key+`":null,`+rest,
				pre+`"`+strings.ToUpper(key[:1])+key[1:]+`":`+after,
				pre+`"\u00`+fmt.Sprintf("%x", key[0])+key[1:]+`":`+after,
				pre+`"zz_unknown":1,`+rest,
			)
		}
	}
	for _, r := range [][2]string{
		{`"generation":`, `"generation":"1",`}, {`"generation":`, `"generation":1.0,"g":`}, {`"generation":`, `"generation":1e2,"g":`},
		{`"generation":`, `"generation":-0,"g":`}, {`"generation":`, `"generation":01,"g":`}, {`"generation":`, `"generation":99999999999999999999,"g":`},
		{`"relist":`, `"relist":"true","r":`}, {`"paths":`, `"paths":"x","p":`}, {`"paths":`, `"paths":[1],"p":`},
		{`"paths":`, `"paths":[null,"a"],"p":`}, {`"paths":`, `"paths":[],"p":`}, {`"paths":`, `"paths":[,],"p":`},
		{`"observed_at":`, `"observed_at":123,"o":`}, {`"observed_at":`, `"observed_at":"2026-13-01T00:00:00Z","o":`},
		{`"observed_at":`, `"observed_at":"2026-01-01T00:00:00\u005a","o":`}, {`"object":`, `"object":null,"o":`},
		{`"object":`, `"object":[],"o":`}, {`"object":{`, `"object":{"Name":"x",`}, {`"attribution":`, `"attribution":[null],"a":`},
		{`"attribution":`, `"attribution":[{"time":null}],"a":`}, {`"at":`, `"at":null,"a2":`}, {`"counts":`, `"counts":{"a":1.5},"c":`},
		{`"counts":`, `"counts":{"a":1,"a":2},"c":`}, {`"excerpt":`, `"excerpt":{"before":{"k":"Secret-canary-7f3a"}},"e":`},
		{`"excerpt":`, `"excerpt":{"before":{"k":[}},"e":`}, {`"finding":{`, `"finding":{"id":"\ud800",`},
		{`"request_id":"`, `"request_id":"\u0000`}, {`"request_id":"`, "\"request_id\":\"\xff"}, {`"request_id":"`, "\"request_id\":\"\x01"},
		{`"sink":"`, `"sink":"\"`}, {`"attempts":`, `"attempts":true,"x":`}, {`"full":`, `"full":nul,"x":`},
		{`"state_serial":`, `"state_serial":9223372036854775807,"x":`},
	} {
		if strings.Contains(s, r[0]) {
			out = append(out, strings.Replace(s, r[0], r[1], 1))
		}
	}
	// Random byte edits.
	alphabet := []byte("{}[]\":,\\ \n0123456789.-eEtrufalsn\x00\x80\xff")
	for range 24 {
		b := []byte(s)
		if len(b) == 0 {
			break
		}
		switch rng.IntN(3) {
		case 0:
			b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
		case 1:
			i := rng.IntN(len(b))
			b = append(b[:i], b[i+1:]...)
		default:
			i := rng.IntN(len(b))
			b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
		}
		out = append(out, string(b))
	}
	bs := make([][]byte, len(out))
	for i, o := range out {
		bs[i] = []byte(o)
	}
	return bs
}

// agree checks one body: the fast path, where it answers, says what Decode
// says, and decodeEvent says the same with and without it.
func agree(t testing.TB, body []byte) (fast bool) {
	t.Helper()
	body = bytes.Clone(body)
	ev, want, werr := Decode(body)
	typ, subj, got, ok := decodeFast(body)
	if ok {
		if werr != nil {
			if got.Validate() == nil {
				t.Fatalf("fast path accepts a body Decode refuses (%v):\n%q", werr, body)
			}
			// Refused by Validate as by Decode: decodeEvent falls back.
		} else if typ != ev.Type() || subj != ev.Subject() || !reflect.DeepEqual(got, want) {
			t.Fatalf("fast path disagrees with Decode on\n%q\nfast: %q %q %#v\nDecode: %q %q %#v", body, typ, subj, got, ev.Type(), ev.Subject(), want)
		}
	}
	fastDecode = false
	t1, s1, d1, e1 := decodeEvent(body)
	fastDecode = true
	t2, s2, d2, e2 := decodeEvent(body)
	if t1 != t2 || s1 != s2 || !reflect.DeepEqual(d1, d2) || errText(e1) != errText(e2) {
		t.Fatalf("decodeEvent differs with the fast path on\n%q\nwithout: %q %q %#v %v\nwith: %q %q %#v %v", body, t1, s1, d1, e1, t2, s2, d2, e2)
	}
	return ok && werr == nil
}

// errText is err's text, the SDK's ValidationError (a map, one line per
// attribute in map order) sorted.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return sortLines(err.Error())
}

// sortLines sorts the lines of the SDK's ValidationError in an error's text
// (after "envelope: ", one attribute a line).
func sortLines(s string) string {
	const after = "envelope: "
	i := strings.Index(s, after)
	if i < 0 {
		return s
	}
	lines := strings.Split(s[i+len(after):], "\n")
	slices.Sort(lines)
	return s[:i+len(after)] + strings.Join(lines, "\n")
}

func TestFastDecodeAgrees(t *testing.T) {
	bodies := corpus(t, 40)
	rng := rand.New(rand.NewPCG(3, 4))
	canonical, fast, hostileN, hostileFast := 0, 0, 0, 0
	for i, b := range bodies {
		valid := i%40%4 != 3
		ok := agree(t, b)
		if valid {
			canonical++
			if !ok {
				t.Errorf("the fast path does not read a body the Publisher wrote:\n%s", b)
			} else {
				fast++
			}
		}
		for _, h := range hostile(rng, b) {
			hostileN++
			if agree(t, h) {
				hostileFast++
			}
		}
	}
	t.Logf("%d bodies as the Publisher writes them, %d read by the fast path; %d hostile changes of them, %d of which still valid and read by it",
		canonical, fast, hostileN, hostileFast)
}

// TestReadEntryWithAndWithoutFastPath: entries, matches and skips are the
// same either way, for every filter, on valid and hostile bodies under
// their own subject and others.
func TestReadEntryWithAndWithoutFastPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	filters := []ReplayFilter{{}, {TypePrefix: "invalid"}, {Workspace: "marketplace"}, {Object: "app-1"}, {TypePrefix: "dev.driftgate.import"}}
	for _, b := range corpus(t, 8) {
		bodies := append([][]byte{b}, hostile(rng, b)[:12]...)
		for _, body := range bodies {
			_, d, err := Decode(body)
			subjects := []string{"driftgate.object.changed.x"}
			h := map[string][]string{HeaderType: {TypeObjectChanged}}
			if err == nil {
				subjects = append(subjects, NATSSubject(d))
				h = map[string][]string{HeaderType: {d.EventType()}, HeaderWorkspace: {d.Workspace()}}
			}
			for _, subj := range subjects {
				for _, f := range filters {
					fastDecode = false
					e1, m1, i1 := ReadEntry(f, subj, h, body, 7, time.Unix(1, 0))
					fastDecode = true
					e2, m2, i2 := ReadEntry(f, subj, h, body, 7, time.Unix(1, 0))
					// The SDK's errors list attributes in map order.
					e1.Reason, e1.Summary = sortLines(e1.Reason), sortLines(e1.Summary)
					e2.Reason, e2.Summary = sortLines(e2.Reason), sortLines(e2.Summary)
					if m1 != m2 || i1 != i2 || !reflect.DeepEqual(e1, e2) {
						t.Fatalf("ReadEntry(%+v, %s) differs with the fast path on\n%q\nwithout: %v %v %#v\nwith: %v %v %#v", f, subj, body, m1, i1, e1, m2, i2, e2)
					}
				}
			}
		}
	}
}

func FuzzFastDecode(f *testing.F) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, b := range corpus(f, 2) {
		f.Add(b)
		for _, h := range hostile(rng, b)[:6] {
			f.Add(h)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		agree(t, body)
	})
}

// BenchmarkDecodeEvent decodes with and without the fast path: "corpus"
// is the test corpus (every field set, strings with escapes, a quarter
// invalid: many fall back to Decode), "audit" the three kinds of body
// BenchmarkAuditScale replays (cmd/driftgate).
func BenchmarkDecodeEvent(b *testing.B) {
	for _, set := range []string{"corpus", "audit"} {
		bodies := corpus(b, 4)
		if set == "audit" {
			bodies = auditBodies(b)
		}
		for _, fast := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/fast=%v", set, fast), func(b *testing.B) {
				fastDecode = fast
				defer func() { fastDecode = true }()
				b.ReportAllocs()
				for i := range b.N {
					_, _, _, _ = decodeEvent(bodies[i%len(bodies)])
				}
			})
		}
	}
}

// auditBodies: an object change, a drift finding and an import approval,
// as cmd/driftgate's seedFrom publishes them.
func auditBodies(b *testing.B) [][]byte {
	ws, addr := "operator-db", "kubernetes_config_map.c1"
	ds := []Data{
		&ObjectChanged{Object: ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment",
			Namespace: "shop", Name: "app-0", UID: "u0"}, Change: ChangeUpdated,
			ResourceVersion: "0", Paths: []string{"spec.replicas"}, ObservedAt: time.Now()},
		&DriftDetected{PlanID: "p1", Finding: Finding{ID: FindingID(ws, addr, "changed"),
			Workspace: ws, Address: addr, Class: ClassChanged, Risk: RiskLow, State: StateOpen,
			Object: ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "c1"}}},
		NewImport(ImportApproved, Import{RequestID: "r2", WS: "marketplace",
			Address: "kubernetes_namespace.shop", By: "alice", At: time.Now()}),
	}
	var out [][]byte
	for _, d := range ds {
		e, err := New("driftgate/test/host-1", d)
		if err != nil {
			b.Fatal(err)
		}
		body, err := e.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, ok := decodeFast(body); !ok {
			b.Fatalf("not read by the fast path: %s", body)
		}
		out = append(out, body)
	}
	return out
}
