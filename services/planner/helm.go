package planner

// Helm releases: the planner's part. The watcher's events carry each
// object's owner hints; the state index maps an object marked by a Helm
// release to its helm_release address (stateindex.LookupOwned), so a change
// of a release's Deployment plans that address, and the classifier reads
// the release's objects from the inventory (classify/helm.go). What only the
// planner knows is which release objects are gone: the deletions it was told
// of, and the objects of the open deleted findings of a release, kept
// open while the object stays missing and the release is not upgraded.

import (
	"context"
	"slices"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// goneReleaseObjects lists the objects of w's Helm releases that were seen
// deleted (pending deletions) or are open deleted findings of a release.
func (s *Service) goneReleaseObjects(ctx context.Context, w *workspace, ix *stateindex.Index, entries []pendingEntry) ([]classify.GoneObject, error) {
	releases := map[string]bool{}
	for _, r := range ix.Releases() {
		releases[r.Address] = true
	}
	if len(releases) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	var out []classify.GoneObject
	add := func(addr string, o events.ObjectRef) {
		k := addr + "\x00" + tfkube.RefKey(o)
		if !seen[k] {
			seen[k] = true
			out = append(out, classify.GoneObject{Address: addr, Object: o})
		}
	}
	for _, e := range entries {
		if e.rec.Change != events.ChangeDeleted {
			continue
		}
		for _, en := range ix.LookupOwned(e.rec.Object, e.rec.Owners) {
			// A deletion seen while state recorded an older revision came
			// with an upgrade (a chart that dropped the object), not drift.
			if en.Type == tfkube.TypeHelmRelease && (e.rec.HelmRevision == 0 || e.rec.HelmRevision >= ix.ReleaseRevision(en.Address)) {
				add(en.Address, e.rec.Object)
			}
		}
	}
	open, err := s.store.List(ctx, findings.Filter{Workspace: w.name, Class: events.ClassDeleted, State: events.StateOpen})
	if err != nil {
		return nil, err
	}
	if w.helmGone == nil {
		w.helmGone = map[string]int64{}
	}
	carried := map[string]bool{}
	for _, f := range open {
		if !releases[f.Address] || f.Object.Name == "" {
			continue
		}
		// Kept open while the object stays missing, until the release is
		// upgraded: an upgrade re-creates what its chart still has, so
		// what is still missing after one was dropped from the chart.
		rev := ix.ReleaseRevision(f.Address)
		first, ok := w.helmGone[f.ID]
		if !ok {
			first = rev
		}
		if first != rev {
			continue
		}
		w.helmGone[f.ID] = first
		carried[f.ID] = true
		add(f.Address, f.Object)
	}
	for id := range w.helmGone {
		if !carried[id] {
			delete(w.helmGone, id)
		}
	}
	return out, nil
}

// helmRevision is the revision w's state records for the Helm release oc's
// object belongs to (0: none, or the index is not loaded).
func (s *Service) helmRevision(ws string, oc *events.ObjectChanged) int64 {
	w := s.byName[ws]
	if w == nil || oc.Owners.Helm == nil {
		return 0
	}
	ix := w.index()
	if ix == nil {
		return 0
	}
	for _, en := range ix.LookupOwned(oc.Object, oc.Owners) {
		if en.Type == tfkube.TypeHelmRelease {
			return ix.ReleaseRevision(en.Address)
		}
	}
	return 0
}

// releaseOwned reports whether rec belongs to a Helm release some
// workspace's state manages (so it is never unmanaged); a workspace whose
// index is not loaded yet might, so it counts.
func (s *Service) releaseOwned(rec *events.InventoryRecord) bool {
	for _, w := range s.workspaces {
		if w.cluster != "" && w.cluster != rec.Object.Cluster {
			continue
		}
		ix := w.index()
		if ix == nil || ix.ManagesOwned(rec.Object, rec.Owners) {
			return true
		}
	}
	return false
}

// coveredReleases are the helm_release instances a plan narrowed to targets
// (none: all of them) covers.
func coveredReleases(ix *stateindex.Index, targets []string) []classify.Release {
	var out []classify.Release
	for _, r := range ix.Releases() {
		if len(targets) == 0 || slices.Contains(targets, r.Address) {
			out = append(out, classify.Release{Address: r.Address, HelmRelease: r.HelmRelease})
		}
	}
	return out
}
