package tfkube

// This file is the Terraform side of Helm releases (hashicorp/helm's
// helm_release): the release a resource instance names, its import ID, and
// which field managers are Helm itself. A release is not one Kubernetes
// object: the objects it owns are found live, by the marks Helm 3.2+ puts on
// each (annotations meta.helm.sh/release-name and release-namespace, label
// app.kubernetes.io/managed-by: Helm); package live reads them.

import (
	"fmt"
	"strings"
)

// TypeHelmRelease is hashicorp/helm's release resource.
const TypeHelmRelease = "helm_release"

// HelmRelease names a release: the namespace Helm keeps its record in and
// the release name.
type HelmRelease struct {
	Namespace string
	Name      string
}

// HelmReleaseOf reads the release a helm_release instance manages from its
// attribute values (state, or a plan's before/after): name, and namespace
// ("default" when unset, as the provider defaults it).
func HelmReleaseOf(values map[string]any) (HelmRelease, error) {
	r := HelmRelease{Name: str(values["name"]), Namespace: str(values["namespace"])}
	if r.Name == "" {
		return HelmRelease{}, fmt.Errorf("%w: helm_release has no name", ErrUnknownObject)
	}
	if r.Namespace == "" {
		r.Namespace = "default"
	}
	return r, nil
}

// ImportID is what `tofu import helm_release.X ID` takes: "namespace/name"
// (hashicorp/helm 1.x-2.x parse it with parseImportIdentifier).
func (r HelmRelease) ImportID() string { return r.importID() }

func (r HelmRelease) importID() string {
	ns := r.Namespace
	if ns == "" {
		ns = "default"
	}
	return ns + "/" + r.Name
}

// String is namespace/name.
func (r HelmRelease) String() string { return r.Namespace + "/" + r.Name }

// IsHelmManager reports whether a field manager is Helm writing a release:
// "helm" (the Helm CLI; Helm 4 applies server-side as "helm"), and the
// helm provider, which the API server names after its binary
// ("terraform-provider-helm_v1.3.2"): Helm 3's client sets no field manager,
// so the API server takes the user agent's program name.
func IsHelmManager(manager string) bool {
	m := strings.ToLower(manager)
	return m == "helm" || strings.HasPrefix(m, "terraform-provider-helm")
}

// HelmRevision reads the release revision a helm_release instance's values
// record (metadata.0.revision); 0 when there is none.
func HelmRevision(values map[string]any) int64 {
	md := firstBlock(values["metadata"])
	switch v := md["revision"].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}
