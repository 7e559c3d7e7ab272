package stateindex

// Helm releases. A helm_release instance manages every object of its
// release, but its state names none of them (hashicorp/helm 1.x keeps the
// release's name, namespace and metadata only). The objects are found live
// by the marks Helm 3.2+ puts on each (annotations meta.helm.sh/release-name
// and meta.helm.sh/release-namespace, label app.kubernetes.io/managed-by:
// Helm), which the watcher passes on as owner hints; LookupOwned turns them
// into the release's address.

import (
	"sort"
	"strings"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

type releaseEntry struct {
	Entry
	revision int64
}

func (ix *Index) addRelease(address string, attrs map[string]any) {
	rel, err := tfkube.HelmReleaseOf(attrs)
	if err != nil {
		return
	}
	if ix.releases == nil {
		ix.releases = map[string][]releaseEntry{}
	}
	ix.releases[rel.String()] = append(ix.releases[rel.String()], releaseEntry{
		Entry:    Entry{Address: address, Type: tfkube.TypeHelmRelease, ImportID: rel.ImportID()},
		revision: tfkube.HelmRevision(attrs),
	})
}

// Release is one helm_release instance in state.
type Release struct {
	Address string
	tfkube.HelmRelease
	// Revision is the release's revision as state last recorded it
	// (metadata.0.revision; 0 when unknown).
	Revision int64
}

// Releases lists the helm_release instances in state, by address.
func (ix *Index) Releases() []Release {
	var out []Release
	for k, es := range ix.releases {
		ns, name := splitRelease(k)
		for _, e := range es {
			out = append(out, Release{Address: e.Address, HelmRelease: tfkube.HelmRelease{Namespace: ns, Name: name}, Revision: e.revision})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// ReleaseRevision is the revision state records for the helm_release at
// address (0 when unknown or not a release).
func (ix *Index) ReleaseRevision(address string) int64 {
	for _, es := range ix.releases {
		for _, e := range es {
			if e.Address == address {
				return e.revision
			}
		}
	}
	return 0
}

func splitRelease(k string) (string, string) {
	ns, name, _ := strings.Cut(k, "/")
	return ns, name
}

// LookupOwned returns the entries that manage the live object o: Lookup's,
// else, when o's owner hints name a Helm release in state, that release's
// helm_release entries, each with Object set to o (so a finding names the
// object). Objects a controller made (a ReplicaSet copies its Deployment's
// Helm annotations) belong to no release.
func (ix *Index) LookupOwned(o events.ObjectRef, h events.OwnerHints) []Entry {
	if es := ix.Lookup(o); len(es) > 0 {
		return es
	}
	ns, name, _, ok := live.HelmReleaseOf(o, h)
	if !ok {
		return nil
	}
	rs := ix.releases[ns+"/"+name]
	if len(rs) == 0 {
		return nil
	}
	obj := tfkube.Object{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID,
		Resource: tfkube.ResourceName(tfkube.GuessPlural(o.Kind), o.Group)}
	out := make([]Entry, len(rs))
	for i, r := range rs {
		r.Object = obj
		out[i] = r.Entry
	}
	return out
}

// ManagesOwned reports whether LookupOwned finds an entry for o.
func (ix *Index) ManagesOwned(o events.ObjectRef, h events.OwnerHints) bool {
	return len(ix.LookupOwned(o, h)) > 0
}
