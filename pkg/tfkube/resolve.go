package tfkube

// This file resolves what the rule of kinds.go guesses (group, plural,
// scope) through the cluster's discovery, where a cluster is at hand.

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resolve returns o with its resource and scope as the cluster serves its
// kind (m is a discovery RESTMapper, such as client-go's
// restmapper.NewDeferredDiscoveryRESTMapper): the plural from discovery,
// and no namespace for a cluster-scoped kind (ImportID then gives "name").
// The group tried is o's, then the canonical one (extensions Ingress ->
// networking.k8s.io).
func Resolve(m meta.RESTMapper, o Object) (Object, error) {
	if m == nil {
		return o, nil
	}
	groups := []string{o.Group}
	if g := CanonicalGroup(o.Group, o.Kind); g != o.Group {
		groups = append(groups, g)
	}
	var err error
	for _, g := range groups {
		var mp *meta.RESTMapping
		mp, err = m.RESTMapping(schema.GroupKind{Group: g, Kind: o.Kind}, o.Version)
		if err != nil {
			mp, err = m.RESTMapping(schema.GroupKind{Group: g, Kind: o.Kind})
		}
		if err != nil {
			continue
		}
		o.Resource = ResourceName(mp.Resource.Resource, mp.Resource.Group)
		if mp.Scope != nil && mp.Scope.Name() == meta.RESTScopeNameRoot {
			o.Namespace, o.ClusterScoped = "", true
		}
		return o, nil
	}
	return o, fmt.Errorf("resolve %s: %w", APIVersion(o.Group, o.Version)+" "+o.Kind, err)
}

// ResolveKind returns k with group, plural and scope as the cluster serves
// the kind: the kind's plural in the version the type names, looked up
// without a group, so a kind whose group the built-in table does not know
// is found too.
func ResolveKind(m meta.RESTMapper, k Kind) (Kind, error) {
	if m == nil {
		return k, nil
	}
	gvks, err := m.KindsFor(schema.GroupVersionResource{Version: k.Version, Resource: k.Resource})
	if err != nil || len(gvks) == 0 {
		gvks, err = m.KindsFor(schema.GroupVersionResource{Resource: k.Resource})
	}
	if err != nil {
		return k, fmt.Errorf("resolve %s: %w", k.Type, err)
	}
	for _, gvk := range gvks {
		if gvk.Kind != k.Kind {
			continue
		}
		if gvk.Group != k.Group && CanonicalGroup(k.Group, k.Kind) != gvk.Group && k.Group != "" {
			continue
		}
		mp, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return k, fmt.Errorf("resolve %s: %w", k.Type, err)
		}
		k.Group = gvk.Group
		k.Resource = mp.Resource.Resource
		k.Namespaced = mp.Scope == nil || mp.Scope.Name() != meta.RESTScopeNameRoot
		return k, nil
	}
	return k, fmt.Errorf("resolve %s: kind %s is not served as %s", k.Type, k.Kind, k.Resource)
}
