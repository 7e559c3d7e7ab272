package snapshot

import (
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ownersOf returns the managers owning path: its own owners; else, for a
// subtree (a new container), the owners of the fields inside it; else the
// owners of the nearest owned ancestor (a list element whose defaulted
// fields nobody owns). 0 when nobody owns it.
func (s *Snapshot) ownersOf(path string) uint64 {
	k := sort.Search(len(s.Owned), func(i int) bool { return s.Owned[i].Path >= path })
	if k < len(s.Owned) && s.Owned[k].Path == path {
		return s.Owned[k].Managers
	}
	var inside uint64
	for _, q := range []string{path + ".", path + "["} {
		k := sort.Search(len(s.Owned), func(i int) bool { return s.Owned[i].Path >= q })
		for ; k < len(s.Owned) && strings.HasPrefix(s.Owned[k].Path, q); k++ {
			inside |= s.Owned[k].Managers
		}
	}
	if inside != 0 {
		return inside
	}
	anc := tfkube.Ancestors(path)
	for i := len(anc) - 1; i >= 0; i-- {
		k := sort.Search(len(s.Owned), func(j int) bool { return s.Owned[j].Path >= anc[i] })
		if k < len(s.Owned) && s.Owned[k].Path == anc[i] {
			return s.Owned[k].Managers
		}
	}
	return 0
}

// newestFirst lists the managers of a bit set, the field's owner first
// (tfkube.ClaimsFirst: most recent operation, then Apply, then name).
func (s *Snapshot) newestFirst(set uint64) []int {
	var idx []int
	for set != 0 {
		i := bits.TrailingZeros64(set)
		set &^= 1 << uint(i)
		if i < len(s.Managers) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return tfkube.ClaimsFirst(s.attribution(idx[a]), s.attribution(idx[b])) })
	return idx
}

// latest is the manager with the most recent operation (ties broken as
// tfkube.ClaimsFirst does), or -1.
func (s *Snapshot) latest() int {
	best := -1
	for i := range s.Managers {
		if best < 0 || tfkube.ClaimsFirst(s.attribution(i), s.attribution(best)) {
			best = i
		}
	}
	return best
}

func (s *Snapshot) attribution(i int) events.Attribution {
	m := s.Managers[i]
	a := events.Attribution{Manager: m.Name, Operation: m.Operation}
	if !m.Time.IsZero() {
		t := m.Time
		a.Time = &t
	}
	return a
}

// Attribution names, for each changed path, the managers that own it in s,
// newest first. A field that is gone (nobody owns it any more) or that
// nobody owns is attributed to the manager with the most recent operation:
// the likeliest remover or writer.
func (s *Snapshot) Attribution(paths []string) []events.PathOwner {
	var out []events.PathOwner
	for _, p := range paths {
		var idx []int
		if hasUnder(s.LeafPaths, p) {
			idx = s.newestFirst(s.ownersOf(p))
		}
		if len(idx) == 0 {
			if l := s.latest(); l >= 0 {
				idx = []int{l}
			}
		}
		for _, i := range idx {
			out = append(out, events.PathOwner{Path: p, Attribution: s.attribution(i)})
		}
	}
	return out
}

// ManagerList is every field manager of the object, Path empty.
func (s *Snapshot) ManagerList() []events.PathOwner {
	out := make([]events.PathOwner, len(s.Managers))
	for i := range s.Managers {
		out[i] = events.PathOwner{Attribution: s.attribution(i)}
	}
	return out
}

// FieldOwners maps every owned field to its newest owner.
func (s *Snapshot) FieldOwners() map[string]events.Attribution {
	if len(s.Owned) == 0 {
		return nil
	}
	out := make(map[string]events.Attribution, len(s.Owned))
	for _, o := range s.Owned {
		if idx := s.newestFirst(o.Managers); len(idx) > 0 {
			out[o.Path] = s.attribution(idx[0])
		}
	}
	return out
}

// stampOf is the stamp of path's newest owner in s.
func (s *Snapshot) stampOf(path string) Stamp {
	idx := s.newestFirst(s.ownersOf(path))
	if len(idx) == 0 {
		return Stamp{}
	}
	return StampOf(s.attribution(idx[0]))
}

// StampOf turns an attribution into a comparable stamp.
func StampOf(a events.Attribution) Stamp {
	st := Stamp{Manager: a.Manager, Operation: a.Operation}
	if a.Time != nil {
		st.Time = a.Time.UTC().Format(time.RFC3339)
	}
	return st
}

// Hints reads the owner hints of the object (live.OwnerHints: Helm, Argo CD,
// ownerReferences).
func (s *Snapshot) Hints() events.OwnerHints {
	return live.OwnerHints(s, s.argoCDManaged())
}

func (s *Snapshot) argoCDManaged() bool {
	for _, m := range s.Managers {
		if live.IsArgoCDManager(m.Name) {
			return true
		}
	}
	return false
}
