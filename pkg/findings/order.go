package findings

import (
	"sort"

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
