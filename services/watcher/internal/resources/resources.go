// Package resources turns the watch.resources of the config (kubectl names,
// or auto) into the API resources the watcher runs informers for.
package resources

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/pkg/config"
)

// Auto is the watch.resources value that derives the list from the
// workspaces.
const Auto = "auto"

// Default is what the watcher watches when watch.resources is empty: the
// kinds DESIGN.md's example config lists. The RBAC in deploy/k8s/watcher
// grants exactly these (plus nodes and leases).
var Default = []string{
	"deployments.apps", "services", "configmaps", "secrets", "namespaces", "serviceaccounts",
	"roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
}

// IsAuto reports whether cfg's watch.resources is [auto].
func IsAuto(cfg *config.File) bool {
	return len(cfg.Watch.Resources) == 1 && strings.TrimSpace(cfg.Watch.Resources[0]) == Auto
}

// Names returns the resource names to watch from the start under cfg,
// deduplicated in order. For auto that is namespaces plus every
// workspace's kinds and high_risk_kinds (the kinds the planner may report
// as unimported); the kinds in the workspaces' state are added as the
// planner records them (cluster.Options.StateKinds).
func Names(cfg *config.File) []string {
	var in []string
	switch {
	case len(cfg.Watch.Resources) == 0:
		in = Default
	case IsAuto(cfg):
		in = append(in, "namespaces")
		for _, ws := range cfg.Workspaces {
			in = append(in, ws.Kinds...)
			in = append(in, ws.HighRiskKinds...)
		}
	default:
		in = cfg.Watch.Resources
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range in {
		n = strings.TrimSpace(n)
		if n == "" || n == Auto || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// Resource is one API resource the watcher watches.
type Resource struct {
	// Name is the kubectl name the events carry: deployments.apps,
	// configmaps (no group for the core group).
	Name       string
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// Secret reports whether the resource is core/v1 Secrets, whose data the
// watcher must never let out.
func (r Resource) Secret() bool { return r.GVR.Group == "" && r.GVR.Resource == "secrets" }

// Nodes reports whether the resource is core/v1 Nodes.
func (r Resource) Nodes() bool { return r.GVR.Group == "" && r.GVR.Resource == "nodes" }

// NameOf is the kubectl name of a group and resource.
func NameOf(gr schema.GroupResource) string {
	if gr.Group == "" {
		return gr.Resource
	}
	return gr.Resource + "." + gr.Group
}

// NotServedError says a configured resource is not served by the cluster
// (a CRD not installed yet, a typo).
type NotServedError struct {
	Name string
	Err  error
}

func (e *NotServedError) Error() string {
	return fmt.Sprintf("resource %q is not served by the cluster: %v", e.Name, e.Err)
}
func (e *NotServedError) Unwrap() error { return e.Err }

// Resolve maps names to resources with m (a discovery RESTMapper, possibly
// with kubectl's short names). Names it cannot map come back as
// *NotServedError by name; two names for one resource resolve once.
func Resolve(m meta.RESTMapper, names []string) ([]Resource, map[string]error) {
	var out []Resource
	errs := map[string]error{}
	seen := map[schema.GroupVersionResource]bool{}
	for _, n := range names {
		r, err := resolve(m, n)
		if err != nil {
			errs[n] = &NotServedError{Name: n, Err: err}
			continue
		}
		if !seen[r.GVR] {
			seen[r.GVR] = true
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errs
}

func resolve(m meta.RESTMapper, name string) (Resource, error) {
	var (
		gvr schema.GroupVersionResource
		err error
	)
	full, gr := schema.ParseResourceArg(strings.ToLower(name))
	if full != nil {
		gvr, err = m.ResourceFor(*full)
	}
	if full == nil || err != nil {
		gvr, err = m.ResourceFor(gr.WithVersion(""))
	}
	if err != nil {
		return Resource{}, err
	}
	gvk, err := m.KindFor(gvr)
	if err != nil {
		return Resource{}, err
	}
	mapping, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Resource{}, err
	}
	return Resource{
		Name:       NameOf(gvr.GroupResource()),
		GVR:        gvr,
		Kind:       gvk.Kind,
		Namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace,
	}, nil
}
