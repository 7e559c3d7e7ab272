package classify

import (
	"sort"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ChurnRecord is the write history of one object's fields: who wrote each
// path last and when the writer changed. It is plain data so the planner
// keeps it in KV, shared by its replicas.
type ChurnRecord struct {
	Paths map[string]*PathFlips `json:"paths,omitempty"`
}

// PathFlips is the history of one field path.
type PathFlips struct {
	Manager string      `json:"manager"`         // the last writer
	Flips   []time.Time `json:"flips,omitempty"` // when the writer changed, within the window
	// Managers maps every writer seen within the window to its last write.
	Managers map[string]time.Time `json:"managers,omitempty"`
}

// Observe records that manager wrote path at t and returns how often the
// path's writer changed within window before t.
func (r *ChurnRecord) Observe(path, manager string, t time.Time, window time.Duration) int {
	if manager == "" || path == "" {
		return 0
	}
	if r.Paths == nil {
		r.Paths = map[string]*PathFlips{}
	}
	p := r.Paths[path]
	if p == nil {
		p = &PathFlips{Managers: map[string]time.Time{}}
		r.Paths[path] = p
	}
	if p.Managers == nil {
		p.Managers = map[string]time.Time{}
	}
	if p.Manager != "" && p.Manager != manager {
		p.Flips = append(p.Flips, t)
	}
	p.Manager = manager
	p.Managers[manager] = t
	p.prune(t, window)
	return len(p.Flips)
}

func (p *PathFlips) prune(now time.Time, window time.Duration) {
	cut := now.Add(-window)
	i := 0
	for i < len(p.Flips) && p.Flips[i].Before(cut) {
		i++
	}
	p.Flips = p.Flips[i:]
	for m, at := range p.Managers {
		if at.Before(cut) && m != p.Manager {
			delete(p.Managers, m)
		}
	}
}

// Prune forgets flips older than window and paths with no history left;
// it reports whether anything is left.
func (r *ChurnRecord) Prune(now time.Time, window time.Duration) bool {
	for path, p := range r.Paths {
		p.prune(now, window)
		if len(p.Flips) == 0 && now.Sub(p.Managers[p.Manager]) > window {
			delete(r.Paths, path)
		}
	}
	return len(r.Paths) > 0
}

// Churning lists the paths whose writer changed at least flips times within
// window before now, and the managers that fought over them.
func (r *ChurnRecord) Churning(flips int, window time.Duration, now time.Time) (paths []string, managers []events.Attribution) {
	seen := map[string]bool{}
	for path, p := range r.Paths {
		n := 0
		for _, t := range p.Flips {
			if now.Sub(t) <= window {
				n++
			}
		}
		if n < flips {
			continue
		}
		paths = append(paths, path)
		for m, at := range p.Managers {
			if !seen[m] {
				seen[m] = true
				at := at.UTC()
				managers = append(managers, events.Attribution{Manager: m, Operation: "Update", Time: &at})
			}
		}
	}
	sort.Strings(paths)
	sort.Slice(managers, func(i, j int) bool { return managers[i].Manager < managers[j].Manager })
	return paths, managers
}

// Writes lists who wrote which path in one observed change: the watcher's
// attribution of the path, else the manager that wrote the object last
// (a removed field has no owner left, but someone removed it; managers
// ordered by tfkube.ClaimsFirst, as the watcher orders them).
func Writes(ev *events.ObjectChanged) []events.PathOwner {
	var latest events.Attribution
	for _, m := range ev.Managers {
		if latest.Manager == "" || tfkube.ClaimsFirst(m.Attribution, latest) {
			latest = m.Attribution
		}
	}
	var out []events.PathOwner
	seen := map[string]bool{}
	for _, a := range ev.Attribution {
		if a.Path != "" && a.Manager != "" && !seen[a.Path] {
			seen[a.Path] = true
			out = append(out, a)
		}
	}
	for _, p := range ev.Paths {
		if seen[p] {
			continue
		}
		owner := latest
		for _, a := range ev.Attribution {
			if a.Manager != "" && tfkube.FieldMatches(a.Path, p) {
				owner = a.Attribution
				break
			}
		}
		if owner.Manager == "" {
			continue
		}
		seen[p] = true
		out = append(out, events.PathOwner{Path: p, Attribution: owner})
	}
	return out
}

// Churn builds the one ownership-conflict finding of an address whose
// fields flip between managers.
func Churn(ws Workspace, address string, obj tfkube.Object, paths []string, managers []events.Attribution, now time.Time) Result {
	f := events.Finding{
		ID:                events.FindingID(ws.Name, address, events.ClassChurn),
		Workspace:         ws.Name,
		Address:           address,
		Object:            obj.Ref(ws.Cluster),
		Class:             events.ClassChurn,
		Risk:              KindRisk(obj, ws.HighRiskKinds),
		Paths:             uniqueSorted(paths),
		Attribution:       dedupeAttribution(managers),
		RecommendedAction: ActionResolveOwnership,
		FirstSeen:         now.UTC(),
		LastSeen:          now.UTC(),
		State:             events.StateOpen,
	}
	names := make([]string, 0, len(f.Attribution))
	for _, a := range f.Attribution {
		names = append(names, a.Manager)
	}
	return Result{Finding: f, Planned: "none",
		Reason: "ownership conflict: fields flip between " + joinAnd(names)}
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return "managers"
	case 1:
		return s[0] + " and another manager"
	}
	out := ""
	for i, x := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " and "
		default:
			out += ", "
		}
		out += x
	}
	return out
}
