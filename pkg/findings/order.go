package findings

import (
	"sort"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ImportOrder sorts unimported findings into import order, the one the
// importer adopts them in and driftgate adopt writes import blocks in:
// stateful objects first, then the other high-risk ones, then
// cluster-scoped objects (namespaces) before namespaced ones, then by
// address.
func ImportOrder(fs []events.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if ra, rb := ImportRank(a.Object, a.Risk), ImportRank(b.Object, b.Risk); ra != rb {
			return ra < rb
		}
		if (a.Object.Namespace == "") != (b.Object.Namespace == "") {
			return a.Object.Namespace == ""
		}
		return a.Address < b.Address
	})
}

// ImportRank orders imports: 0 stateful (a database, a volume), 1 other
// high-risk (Secrets, configured kinds), 2 the rest.
func ImportRank(o events.ObjectRef, risk string) int {
	switch {
	case tfkube.Stateful(o.Group, o.Kind):
		return 0
	case risk == events.RiskHigh:
		return 1
	}
	return 2
}

// CreatedBy names the earliest writer of the object: its oldest field
// manager with an operation, else the finding's attribution, plus owner hints.
func CreatedBy(rec *events.InventoryRecord, f events.Finding) string {
	var ms []events.PathOwner
	if rec != nil {
		ms = append(ms, rec.Managers...)
	}
	sort.SliceStable(ms, func(i, j int) bool {
		ti, tj := ms[i].Time, ms[j].Time
		switch {
		case ti == nil:
			return false
		case tj == nil:
			return true
		}
		return ti.Before(*tj)
	})
	for _, m := range ms {
		if m.Manager == "" || tfkube.IsController(m.Manager) && len(ms) > 1 {
			continue
		}
		s := m.Manager
		if m.Operation != "" {
			s += " (" + m.Operation + ")"
		}
		if m.Time != nil {
			s += " at " + m.Time.UTC().Format(time.RFC3339)
		}
		return s
	}
	if len(f.Attribution) > 0 && f.Attribution[0].Manager != "" {
		return f.Attribution[0].Manager
	}
	return ""
}
