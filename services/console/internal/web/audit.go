package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

type auditData struct {
	Filter  map[string]string
	Entries []events.Entry
	More    int
	Skipped int
}

// maxAuditRows bounds the audit page; the newest rows are kept.
const maxAuditRows = 500

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, p *Person) {
	q := r.URL.Query()
	d := auditData{Filter: map[string]string{"since": q.Get("since"), "until": q.Get("until"), "type": q.Get("type"),
		"workspace": q.Get("workspace"), "object": q.Get("object")}}
	if !q.Has("since") {
		d.Filter["since"] = "24h"
	}
	now := s.now()
	f := events.ReplayFilter{TypePrefix: events.NormaliseType(d.Filter["type"]), Workspace: d.Filter["workspace"], Object: d.Filter["object"]}
	var err error
	if f.Since, err = parseWhen(d.Filter["since"], now); err != nil {
		s.renderPage(w, r, http.StatusBadRequest, "audit", page{Title: "Audit", Person: p, Data: d, Nav: "audit", Error: "since: " + err.Error()})
		return
	}
	if f.Until, err = parseWhen(d.Filter["until"], now); err != nil {
		s.renderPage(w, r, http.StatusBadRequest, "audit", page{Title: "Audit", Person: p, Data: d, Nav: "audit", Error: "until: " + err.Error()})
		return
	}
	d.Skipped, err = events.Replay(r.Context(), s.js, f, func(e events.Entry) error {
		e.Body = nil
		d.Entries = append(d.Entries, e)
		if len(d.Entries) > 2*maxAuditRows {
			d.More += len(d.Entries) - maxAuditRows
			d.Entries = append([]events.Entry(nil), d.Entries[len(d.Entries)-maxAuditRows:]...)
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	if n := len(d.Entries); n > maxAuditRows {
		d.More += n - maxAuditRows
		d.Entries = d.Entries[n-maxAuditRows:]
	}
	for i, j := 0, len(d.Entries)-1; i < j; i, j = i+1, j-1 { // newest first
		d.Entries[i], d.Entries[j] = d.Entries[j], d.Entries[i]
	}
	s.renderPage(w, r, http.StatusOK, "audit", page{Title: "Audit", Person: p, Data: d, Nav: "audit"})
}

// parseWhen reads a duration ago (24h) or an RFC 3339 time, as driftgate
// audit does.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q is negative", v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor an RFC 3339 time", v)
	}
	return t, nil
}
