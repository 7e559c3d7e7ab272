package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/pkg/source"
)

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	Person *Person
	CSRF   string
	Flash  string
	Error  string
	Data   any
}

type errorData struct{ Title, Message string }

var funcs = template.FuncMap{
	"short": func(t string) string { return strings.TrimSuffix(strings.TrimPrefix(t, "dev.driftgate."), ".v1") },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"whenp": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"join":     strings.Join,
	"terminal": imports.Terminal,
	"pending":  func(s string) bool { return s == imports.StatusPending },
	"classes":  func() []string { return events.Classes },
	"statuses": func() []string { return requestStatuses },
	"ms": func(ms int64) string {
		return (time.Duration(ms) * time.Millisecond).Round(10 * time.Millisecond).String()
	},
	"sha":       source.ShortSHA,
	"lower":     strings.ToLower,
	"hasPrefix": strings.HasPrefix,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	},
}

var requestStatuses = []string{imports.StatusPending, imports.StatusApproved, imports.StatusRunning, imports.StatusSucceeded,
	imports.StatusRejected, imports.StatusRolledBack, imports.StatusFailed}

func parsePages() (map[string]*template.Template, error) {
	names := []string{"login", "overview", "findings", "finding", "report", "requests", "audit", "error"}
	out := map[string]*template.Template{}
	for _, n := range names {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/decide.html", "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		out[n] = t
	}
	return out, nil
}

// render writes a page; a template failure is a 500 with a plain message,
// never a half-written page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *Person, data any) {
	s.renderPage(w, r, status, name, page{Person: p, Data: data, Nav: name})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, pg page) {
	pg.CSRF = s.csrfToken(w, r)
	if q := r.URL.Query(); pg.Flash == "" && pg.Error == "" && r.Method == http.MethodGet {
		pg.Flash, pg.Error = q.Get("done"), q.Get("error")
	}
	if pg.Title == "" {
		pg.Title = name
		if e, ok := pg.Data.(errorData); ok {
			pg.Title = e.Title
		}
	}
	var b bytes.Buffer
	if err := s.pages[name].Execute(&b, pg); err != nil {
		s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, p *Person, err error) {
	s.log.Error("console: page", "path", r.URL.Path, "err", err)
	s.render(w, r, http.StatusInternalServerError, "error", p, errorData{Title: "Error", Message: err.Error()})
}

func (s *Server) kv(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	kv, err := s.js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return kv, nil
}

func (s *Server) findings(ctx context.Context, fl findings.Filter) ([]events.Finding, error) {
	kv, err := s.kv(ctx, events.BucketFindings)
	if err != nil || kv == nil {
		return nil, err
	}
	return findings.Store{KV: kv}.List(ctx, fl)
}

func (s *Server) requests(ctx context.Context, ws string) ([]*imports.Request, error) {
	kv, err := s.kv(ctx, events.BucketState)
	if err != nil || kv == nil {
		return nil, err
	}
	return imports.ListRequests(ctx, kv, ws)
}

// workspaces are the configured ones, then any other the findings name.
func (s *Server) workspaces(fs []events.Finding) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range s.file.Workspaces {
		if !seen[w.Name] {
			seen[w.Name] = true
			out = append(out, w.Name)
		}
	}
	for _, f := range fs {
		if !seen[f.Workspace] {
			seen[f.Workspace] = true
			out = append(out, f.Workspace)
		}
	}
	return out
}

// ---- overview

type wsOverview struct {
	Name    string
	Open    int
	High    int
	ByClass []classCount
	Plan    *events.PlanCompleted
	// Source is the workspace's revision record (a workspace read from
	// Git): the commit the planner checked out last, or nil.
	Source *source.Revision
	// Unplanned is set when Source names another commit than the last
	// plan ran on: the next plan is at that revision.
	Unplanned bool
	Pending   int
	Findings  []events.Finding
}

type classCount struct {
	Class string
	Low   int
	High  int
}

type overviewData struct {
	Workspaces []wsOverview
	Health     []healthRow
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, p *Person) {
	fs, err := s.findings(r.Context(), findings.Filter{State: events.StateOpen})
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	reqs, err := s.requests(r.Context(), "")
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	state, err := s.kv(r.Context(), events.BucketState)
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	var d overviewData
	for _, ws := range s.workspaces(fs) {
		o := wsOverview{Name: ws, Plan: s.live.lastPlan(ws)}
		if state != nil {
			if o.Source, err = source.GetRevision(r.Context(), state, ws); err != nil {
				s.fail(w, r, p, err)
				return
			}
		}
		o.Unplanned = o.Source != nil && o.Source.Commit != "" && (o.Plan == nil || o.Plan.Revision != o.Source.Commit)
		counts := map[string]*classCount{}
		for _, f := range fs {
			if f.Workspace != ws || f.Class == events.ClassIgnored {
				continue
			}
			o.Open++
			c := counts[f.Class]
			if c == nil {
				c = &classCount{Class: f.Class}
				counts[f.Class] = c
			}
			if f.Risk == events.RiskHigh {
				c.High++
				o.High++
			} else {
				c.Low++
			}
			o.Findings = append(o.Findings, f)
		}
		for _, cl := range events.Classes {
			if c := counts[cl]; c != nil {
				o.ByClass = append(o.ByClass, *c)
			}
		}
		for _, rq := range reqs {
			if rq.Workspace == ws && rq.Status == imports.StatusPending {
				o.Pending++
			}
		}
		d.Workspaces = append(d.Workspaces, o)
	}
	d.Health = s.live.healthRows()
	s.renderPage(w, r, http.StatusOK, "overview", page{Title: "Overview", Person: p, Data: d, Nav: "overview"})
}

// ---- findings list

type findingsData struct {
	Filter     map[string]string
	Workspaces []string
	Findings   []events.Finding
}

func (s *Server) findingsPage(w http.ResponseWriter, r *http.Request, p *Person) {
	q := r.URL.Query()
	fl := findings.Filter{Workspace: q.Get("workspace"), Class: q.Get("class"), State: q.Get("state")}
	if !q.Has("state") {
		fl.State = events.StateOpen
	}
	if fl.State == "all" {
		fl.State = ""
	}
	risk := q.Get("risk")
	all, err := s.findings(r.Context(), findings.Filter{})
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	d := findingsData{Workspaces: s.workspaces(all),
		Filter: map[string]string{"workspace": fl.Workspace, "class": fl.Class, "risk": risk, "state": q.Get("state")}}
	if !q.Has("state") {
		d.Filter["state"] = events.StateOpen
	}
	for _, f := range all {
		if fl.Match(f) && (risk == "" || f.Risk == risk) {
			d.Findings = append(d.Findings, f)
		}
	}
	s.renderPage(w, r, http.StatusOK, "findings", page{Title: "Findings", Person: p, Data: d, Nav: "findings"})
}

// ---- decision table

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request, p *Person) {
	ws := r.PathValue("ws")
	rep, err := imports.ReportFromPipeline(r.Context(), s.js, ws)
	if err != nil && !errors.Is(err, imports.ErrNoFindings) {
		s.fail(w, r, p, err)
		return
	}
	if errors.Is(err, imports.ErrNoFindings) {
		rep = imports.Report{Workspace: ws, Rows: nil, Source: "no findings yet"}
	}
	s.renderPage(w, r, http.StatusOK, "report", page{Title: "Decision table: " + ws, Person: p, Data: rep, Nav: "report"})
}

// ---- import requests

type requestsData struct {
	Filter     map[string]string
	Workspaces []string
	Requests   []*imports.Request
}

func (s *Server) requestsPage(w http.ResponseWriter, r *http.Request, p *Person) {
	q := r.URL.Query()
	all, err := s.requests(r.Context(), "")
	if err != nil {
		s.fail(w, r, p, err)
		return
	}
	d := requestsData{Filter: map[string]string{"workspace": q.Get("workspace"), "status": q.Get("status")}, Workspaces: s.workspaces(nil)}
	for i := len(all) - 1; i >= 0; i-- { // newest first
		rq := all[i]
		if (d.Filter["workspace"] == "" || rq.Workspace == d.Filter["workspace"]) && (d.Filter["status"] == "" || rq.Status == d.Filter["status"]) {
			d.Requests = append(d.Requests, rq)
		}
	}
	pg := page{Title: "Import requests", Person: p, Data: d, Nav: "requests", Flash: q.Get("done")}
	if e := q.Get("error"); e != "" {
		pg.Error = e
	}
	s.renderPage(w, r, http.StatusOK, "requests", pg)
}
