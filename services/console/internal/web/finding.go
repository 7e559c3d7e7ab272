package web

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

type findingData struct {
	Finding  events.Finding
	Excerpt  []excerptRow
	Reason   string
	Request  *imports.Request
	Timeline []events.Entry
	Sources  string
}

type excerptRow struct{ Path, Before, After string }

func (s *Server) findingPage(w http.ResponseWriter, r *http.Request, p *Person) {
	id := r.PathValue("id")
	kv, err := s.kv(r.Context(), events.BucketFindings)
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	var f events.Finding
	ok := false
	if kv != nil {
		f, ok, err = findings.Store{KV: kv}.Get(r.Context(), id)
		if err != nil {
			s.fail(w, r, p, err)
			return
		}
	}
	if !ok {
		s.render(w, r, http.StatusNotFound, "error", p, errorData{Title: "Not found", Message: "No finding " + id})
		return
	}
	d := findingData{Finding: f}
	key := f.Object.Path()
	if f.Object.Name == "" {
		key = f.Address
	}
	_, err = events.Replay(r.Context(), s.js, events.ReplayFilter{Object: key}, func(e events.Entry) error {
		e.Body = nil // the page shows summaries, never an event's body
		if e.Data == nil {
			return nil // dead letters and invalid messages are the audit page's
		}
		if dd, ok := e.Data.(*events.DriftDetected); ok && dd.Finding.ID == f.ID {
			d.Excerpt, d.Reason = excerptRows(f, dd.Excerpt), dd.Reason
		}
		d.Timeline = append(d.Timeline, e)
		return nil
	})
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	reqs, err := s.requests(r.Context(), f.Workspace)
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	for _, rq := range reqs {
		if rq.FindingID == f.ID && (d.Request == nil || rq.UpdatedAt.After(d.Request.UpdatedAt)) {
			d.Request = rq
		}
	}
	s.renderPage(w, r, http.StatusOK, "finding", page{Title: f.Address, Person: p, Data: d, Nav: "findings"})
}

// excerptRows flattens a finding's before/after. Values of a Secret are
// never shown, whatever an event carries: the pipeline redacts them before
// publishing, and the console does not rely on that alone.
func excerptRows(f events.Finding, x events.Excerpt) []excerptRow {
	secret := tfkube.SecretKind(tfkube.Object{Group: f.Object.Group, Kind: f.Object.Kind})
	before, after := map[string]string{}, map[string]string{}
	flatten("", x.Before, before, secret)
	flatten("", x.After, after, secret)
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var out []excerptRow
	for k := range keys {
		out = append(out, excerptRow{Path: k, Before: orDash(before, k), After: orDash(after, k)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func orDash(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return "—"
}

func flatten(prefix string, v any, out map[string]string, secret bool) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := v.(type) {
	case map[string]any:
		for k, vv := range t {
			flatten(join(k), vv, out, secret)
		}
	case []any:
		for i, vv := range t {
			flatten(prefix+"["+strconv.Itoa(i)+"]", vv, out, secret)
		}
	default:
		if prefix == "" {
			return
		}
		if secret && t != nil {
			out[prefix] = tfkube.Redacted
			return
		}
		out[prefix] = fmt.Sprint(t)
	}
}
