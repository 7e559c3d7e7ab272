package snapshot

import (
	"sort"
	"strings"

	"github.com/driftgate/driftgate/pkg/tfkube"
)

// MaxPaths caps the changed paths of one change; beyond it the paths are
// folded into their top-level fields (data, spec) so an event stays small.
const MaxPaths = 500

// Stamp is who last wrote a field: the stamp of its newest owner.
type Stamp struct {
	Manager   string
	Operation string
	Time      string // RFC 3339, as stored
}

// Changed returns the paths that differ between old and cur, sorted: a leaf
// whose value changed, appeared or disappeared, and for a list element that
// appeared or disappeared as a whole (a container) the element's path.
//
// A leaf of old with an unknown value (Hash 0: a Secret's data read back
// from the inventory) counts as changed when its owner's stamp in cur
// differs from oldStamps[path].
func Changed(old, cur *Snapshot, oldStamps map[string]Stamp) []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	ol, nl := old.LeafPaths, cur.LeafPaths
	i, j := 0, 0
	for i < len(ol) || j < len(nl) {
		switch {
		case j >= len(nl) || (i < len(ol) && ol[i] < nl[j]):
			add(wholeSubtree(ol[i], nl))
			i++
		case i >= len(ol) || nl[j] < ol[i]:
			add(wholeSubtree(nl[j], ol))
			j++
		default:
			o, n := old.Hashes[i], cur.Hashes[j]
			switch {
			case o == 0:
				if cur.stampOf(nl[j]) != oldStamps[nl[j]] {
					add(nl[j])
				}
			case o != n:
				add(nl[j])
			}
			i++
			j++
		}
	}
	sort.Strings(out)
	if len(out) > MaxPaths {
		return fold(out)
	}
	return out
}

// wholeSubtree returns the outermost list element containing p that has no
// leaf in other (a container that appeared or disappeared as a whole), or p.
// Map keys stay leaves: a new label is metadata.labels.<key>.
func wholeSubtree(p string, other []string) string {
	for _, a := range tfkube.Ancestors(p) {
		if tfkube.IsElement(a) && !hasUnder(other, a) {
			return a
		}
	}
	return p
}

// hasUnder reports whether some leaf path (sorted) is prefix or lies under
// it.
func hasUnder(leaves []string, prefix string) bool {
	for _, q := range []string{prefix, prefix + ".", prefix + "["} {
		k := sort.SearchStrings(leaves, q)
		if k < len(leaves) && (leaves[k] == prefix || q != prefix && strings.HasPrefix(leaves[k], q)) {
			return true
		}
	}
	return false
}

func fold(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		t := tfkube.Top(p)
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}
