package tfkube

import (
	"fmt"
	"sort"
	"strings"
)

// TypeFor chooses the resource type a user of the workspace's providers
// (this catalog) would write for a live object of group, version and kind,
// by rule: a typed kubernetes_* type of the kind — not deprecated first,
// then the one whose API version is the object's, then the newest
// versioned name (kubernetes_deployment_v1 with provider 2.x and 3.x, where
// the unversioned names are deprecated), then the unversioned name (all
// provider 1.13 has); a kind without one (a custom resource) gets
// kubernetes_manifest where the catalog has it, else kubectl_manifest. An
// error names the object when the catalog has none of them (or is empty:
// the providers' schema could not be read).
func (c Catalog) TypeFor(group, version, kind string) (string, error) {
	if c.Len() == 0 {
		return "", fmt.Errorf("%s: the providers' schema is unknown, no resource type can be chosen", kindName(group, kind))
	}
	var typed []Kind
	for t := range c.types {
		k, ok := KindOf(t)
		if !ok || !k.Importable || k.Kind != kind || CanonicalGroup(k.Group, kind) != CanonicalGroup(group, kind) {
			continue
		}
		typed = append(typed, k)
	}
	if len(typed) > 0 {
		sort.Slice(typed, func(i, j int) bool {
			a, b := typed[i], typed[j]
			if da, db := c.Deprecated(a.Type), c.Deprecated(b.Type); da != db {
				return !da
			}
			if ma, mb := a.Version == version && a.Group == group, b.Version == version && b.Group == group; ma != mb {
				return ma
			}
			if va, vb := versioned(a.Type), versioned(b.Type); va != vb {
				return va
			}
			return a.Type > b.Type // the newest version name (_v2 after _v1)
		})
		return typed[0].Type, nil
	}
	for _, t := range []string{TypeKubernetesManifest, TypeKubectlManifest} {
		if c.Known(t) {
			return t, nil
		}
	}
	return "", fmt.Errorf("%s: the workspace's providers have no resource type for it (no typed type, no kubernetes_manifest or kubectl_manifest)", kindName(group, kind))
}

// versioned reports whether a typed type's name carries its API version.
func versioned(tfType string) bool {
	i := strings.LastIndex(tfType, "_v")
	return i > 0 && isVersion(tfType[i+1:])
}

func kindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}
