package planner

import (
	"log/slog"
	"time"
)

// phases records where one plan's time goes, phase by phase, for
// plan.completed and the log.
type phases struct {
	last  time.Time
	order []string
	d     map[string]time.Duration
}

func newPhases(start time.Time) *phases {
	return &phases{last: start, d: map[string]time.Duration{}}
}

// lap charges the time since the previous lap (or set) to name.
func (p *phases) lap(name string) {
	now := time.Now()
	p.add(name, now.Sub(p.last))
	p.last = now
}

// set charges d to name (a phase measured elsewhere) without moving the
// lap clock; the next lap gets the rest.
func (p *phases) set(name string, d time.Duration) {
	p.add(name, d)
	p.last = p.last.Add(d)
}

func (p *phases) add(name string, d time.Duration) {
	if _, ok := p.d[name]; !ok {
		p.order = append(p.order, name)
	}
	p.d[name] += d
}

// millis is the phases in milliseconds.
func (p *phases) millis() map[string]int64 {
	m := make(map[string]int64, len(p.d))
	for k, d := range p.d {
		m[k] = d.Milliseconds()
	}
	return m
}

// LogValue lists the phases in the order they ran.
func (p *phases) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(p.order))
	for _, k := range p.order {
		attrs = append(attrs, slog.Duration(k, p.d[k].Round(time.Millisecond)))
	}
	return slog.GroupValue(attrs...)
}
