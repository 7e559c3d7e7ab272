package tfkube

// This file answers who owns a field of a live object, and whether that
// owner is a controller or a person.

import (
	"strings"

	"github.com/driftgate/driftgate/pkg/events"
)

// OwnerOf returns the owner of field in owners (as FieldOwners builds
// them): the owner of field itself; else of the deepest owned path at or
// above it or at or below it, list selectors ignored (FieldMatches); among
// equally deep candidates, the one ClaimsFirst puts first. It is zero when
// nobody owns anything there.
func OwnerOf(field string, owners map[string]events.Attribution) events.Attribution {
	if field == "" {
		return events.Attribution{}
	}
	if a, ok := owners[field]; ok {
		return a
	}
	best, bestLen := events.Attribution{}, -1
	for p, a := range owners {
		if !FieldUnder(field, p) && !FieldUnder(p, field) {
			continue
		}
		n := len(FieldShape(p))
		if n > bestLen || n == bestLen && ClaimsFirst(a, best) {
			best, bestLen = a, n
		}
	}
	return best
}

// controllers are field managers of well-known controllers.
var controllers = map[string]bool{
	"kube-controller-manager": true, "horizontal-pod-autoscaler": true, "manager": true, "cnpg": true,
	"cloudnative-pg": true, "kustomize-controller": true, "helm-controller": true, "vpa-updater": true,
	"vpa-recommender": true, "cluster-autoscaler": true, "kubelet": true, "argocd": true,
}

// IsController reports whether a field manager is a controller rather than
// a person or a provisioning tool: well-known controllers (HPA,
// kube-controller-manager, Argo CD, Flux, kubebuilder's default "manager"),
// and any manager whose name says controller or operator. Drift only in
// fields a controller owns is "ignored"; drift written by kubectl, Helm, a
// dashboard or any unknown client is "changed".
func IsController(manager string) bool {
	m := strings.ToLower(manager)
	return controllers[m] || strings.Contains(m, "controller") || strings.Contains(m, "operator")
}
