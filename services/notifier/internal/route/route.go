// Package route decides which sinks an event goes to, from the routes of the
// config file's notify section.
//
// A route matches an event when every filter it sets holds: the event's type
// is one of Types (drift.detected, import.*, *), its workspace is one of
// Workspaces, its finding class is one of Classes, its risk is at least
// MinRisk, its severity at least MinSeverity. A filter on something the event
// does not carry (a class on an import, a severity on a finding) does not hold.
package route

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
)

// Alertable event types, in the short form routes use. Everything else in the
// stream (object.changed, plan.completed, alert.*) never becomes an alert.
var Alertable = []string{
	"drift.detected", "drift.resolved",
	"import.requested", "import.approved", "import.rejected", "import.started",
	"import.succeeded", "import.failed", "import.rolledback",
	"cluster.health",
}

// DefaultTypes are what every sink gets when the config has no routes.
var DefaultTypes = []string{
	"drift.detected", "drift.resolved",
	"import.requested", "import.rejected", "import.succeeded", "import.failed", "import.rolledback",
	"cluster.health",
}

// DefaultHealthSeverity is the minimum severity of cluster.health alerts on
// a route that sets none: info-level transitions (a recovery, an informer
// synced) are only sent as the end of a problem the sink was told about.
const DefaultHealthSeverity = events.SeverityWarning

// Classes a route without a classes filter matches: every class but the
// ones DESIGN.md says are never alerted (ignored) or reported apart
// (pending-config).
var defaultClasses = []string{events.ClassUnimported, events.ClassChanged, events.ClassDeleted, events.ClassChurn, events.ClassUnmanaged}

// ShortType turns dev.driftgate.drift.detected.v1 into drift.detected.
func ShortType(eventType string) string {
	s := strings.TrimPrefix(eventType, "dev.driftgate.")
	if i := strings.LastIndex(s, ".v"); i > 0 {
		s = s[:i]
	}
	return s
}

// Attrs are what routes look at in an event.
type Attrs struct {
	Type      string // short form: drift.detected
	Workspace string
	Class     string
	Risk      string
	Severity  string
}

// AttrsOf extracts the route attributes of event data.
func AttrsOf(d events.Data) Attrs {
	a := Attrs{Type: ShortType(d.EventType()), Workspace: d.Workspace()}
	switch d := d.(type) {
	case *events.DriftDetected:
		a.Class, a.Risk = d.Finding.Class, d.Finding.Risk
	case *events.DriftResolved:
		a.Class, a.Risk = d.Finding.Class, d.Finding.Risk
	case *events.Import:
		a.Risk = d.Risk
	case *events.ClusterHealth:
		a.Severity = d.Severity
	}
	return a
}

type rule struct {
	types       map[string]bool
	workspaces  []string
	classes     []string
	anyClass    bool // no classes filter: the default classes, and events without a class pass
	minRisk     int
	minSeverity int // 0: the default for cluster.health, none for others
	sinks       []string
}

// Table is the compiled routes.
type Table struct {
	rules []rule
	sinks []string
}

// Compile checks and compiles the routes of n. Sinks named by routes exist
// (config.Load checked that); types must be alertable.
func Compile(n config.Notify) (*Table, error) {
	t := &Table{}
	for _, s := range n.Sinks {
		t.sinks = append(t.sinks, s.Name)
	}
	routes := n.Routes
	if len(routes) == 0 && len(t.sinks) > 0 {
		routes = []config.Route{{Match: config.Match{Types: DefaultTypes}, Sinks: t.sinks}}
	}
	for i, r := range routes {
		ru := rule{types: map[string]bool{}, workspaces: r.Match.Workspaces, classes: r.Match.Classes, sinks: r.Sinks}
		types := r.Match.Types
		if len(types) == 0 {
			types = []string{"*"}
		}
		for _, p := range types {
			got := expand(p)
			if len(got) == 0 {
				return nil, fmt.Errorf("notify.routes[%d].match.types: %q is not an alert type (alert types: %s, or a prefix with .*, or *)",
					i, p, strings.Join(Alertable, ", "))
			}
			for _, ty := range got {
				ru.types[ty] = true
			}
		}
		if len(ru.classes) == 0 {
			ru.classes, ru.anyClass = defaultClasses, true
		}
		for _, c := range r.Match.Classes {
			if !slices.Contains(events.Classes, c) {
				return nil, fmt.Errorf("notify.routes[%d].match.classes: %q is not a drift class (%s)", i, c, strings.Join(events.Classes, ", "))
			}
		}
		ru.minRisk = riskRank(r.Match.MinRisk)
		ru.minSeverity = severityRank(r.Match.MinSeverity)
		for _, s := range r.Sinks {
			if !slices.Contains(t.sinks, s) {
				return nil, fmt.Errorf("notify.routes[%d].sinks: sink %q is not defined", i, s)
			}
		}
		t.rules = append(t.rules, ru)
	}
	return t, nil
}

// expand turns a type pattern into the alertable types it names.
func expand(p string) []string {
	if p == "*" {
		return Alertable
	}
	var out []string
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		for _, t := range Alertable {
			if strings.HasPrefix(t, prefix+".") {
				out = append(out, t)
			}
		}
		return out
	}
	if slices.Contains(Alertable, p) {
		return []string{p}
	}
	return nil
}

// Match is how well an event matches a sink's routes.
type Match int

const (
	// None: no route sends the event to the sink.
	None Match = iota
	// BelowSeverity: a route matches on everything but severity. A
	// cluster.health event that matches only so is sent only when it ends a
	// problem the sink was told about (a recovery).
	BelowSeverity
	// Full: a route sends the event to the sink.
	Full
)

// Match says how the event with attributes a matches sink's routes.
func (t *Table) Match(sink string, a Attrs) Match {
	best := None
	for _, r := range t.rules {
		if !slices.Contains(r.sinks, sink) {
			continue
		}
		if m := r.match(a); m > best {
			best = m
		}
	}
	return best
}

func (r rule) match(a Attrs) Match {
	if !r.types[a.Type] {
		return None
	}
	if len(r.workspaces) > 0 && !slices.Contains(r.workspaces, a.Workspace) {
		return None
	}
	if strings.HasPrefix(a.Type, "drift.") && !slices.Contains(r.classes, a.Class) {
		return None
	}
	if !r.anyClass && !strings.HasPrefix(a.Type, "drift.") {
		return None // a classes filter does not hold for an event without a class
	}
	if r.minRisk > 0 && riskRank(a.Risk) < r.minRisk {
		return None
	}
	minSev := r.minSeverity
	if minSev == 0 && a.Type == "cluster.health" {
		minSev = severityRank(DefaultHealthSeverity)
	}
	if minSev > 0 && severityRank(a.Severity) < minSev {
		if a.Type == "cluster.health" {
			return BelowSeverity
		}
		return None
	}
	return Full
}

// Types returns the alertable short types some route sends to sink, sorted.
func (t *Table) Types(sink string) []string {
	seen := map[string]bool{}
	for _, r := range t.rules {
		if !slices.Contains(r.sinks, sink) {
			continue
		}
		for ty := range r.types {
			seen[ty] = true
		}
	}
	out := make([]string, 0, len(seen))
	for ty := range seen {
		out = append(out, ty)
	}
	sort.Strings(out)
	return out
}

// Subjects are the NATS filter subjects a sink's consumer needs: one per
// routed type, plus plan.completed when drift events are routed (it closes a
// plan's digest early).
func (t *Table) Subjects(sink string) []string {
	var out []string
	drift := false
	for _, ty := range t.Types(sink) {
		out = append(out, events.SubjectRoot+"."+ty+".>")
		drift = drift || strings.HasPrefix(ty, "drift.")
	}
	if drift {
		out = append(out, events.SubjectRoot+".plan.completed.>")
	}
	return out
}

func riskRank(r string) int {
	switch r {
	case events.RiskLow:
		return 1
	case events.RiskHigh:
		return 2
	}
	return 0
}

func severityRank(s string) int {
	switch s {
	case events.SeverityInfo:
		return 1
	case events.SeverityWarning:
		return 2
	case events.SeverityCritical:
		return 3
	}
	return 0
}
