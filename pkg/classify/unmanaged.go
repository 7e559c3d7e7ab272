package classify

import (
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// InScope reports whether a workspace that declares namespaces and kinds
// could manage o (of kubectl resource name resource): its namespace is
// declared (or none are, and kinds are), and its kind is declared (or none
// are, and namespaces are). A workspace declaring neither claims nothing.
func InScope(namespaces, kinds []string, o events.ObjectRef, resource string) bool {
	if len(namespaces) == 0 && len(kinds) == 0 {
		return false
	}
	if len(namespaces) > 0 {
		hit := false
		for _, ns := range namespaces {
			// A declared namespace covers the Namespace object itself too.
			if o.Namespace == ns || (o.Namespace == "" && o.Group == "" && o.Kind == "Namespace" && o.Name == ns) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	if len(kinds) > 0 {
		plural := resource
		if i := strings.IndexByte(plural, '.'); i > 0 {
			plural = plural[:i]
		}
		for _, k := range kinds {
			if tfkube.KindMatches(k, o.Group, o.Kind, plural) {
				return true
			}
		}
		return false
	}
	return true
}

// SystemObject reports whether Kubernetes or a controller made the object
// (kube-root-ca.crt, the default ServiceAccount, anything with a controller
// owner reference, the built-in namespaces): never "unmanaged".
func SystemObject(rec *events.InventoryRecord) bool {
	o := rec.Object
	for _, r := range rec.Owners.OwnerReferences {
		if r.Controller {
			return true
		}
	}
	if len(rec.Owners.OwnerReferences) > 0 {
		return true
	}
	switch {
	case o.Group == "" && o.Kind == "ConfigMap" && o.Name == "kube-root-ca.crt":
		return true
	case o.Group == "" && o.Kind == "ServiceAccount" && o.Name == "default":
		return true
	case o.Group == "" && o.Kind == "Namespace" && (o.Name == "default" || strings.HasPrefix(o.Name, "kube-")):
		return true
	case strings.HasPrefix(o.Namespace, "kube-"):
		return true
	case o.Group == "" && (o.Kind == "Endpoints" || o.Kind == "Event" || o.Kind == "Pod"):
		return true
	case o.Group == "discovery.k8s.io" || o.Group == "events.k8s.io" || o.Group == "coordination.k8s.io":
		return true
	case o.Group == "apps" && (o.Kind == "ReplicaSet" || o.Kind == "ControllerRevision"):
		return true
	}
	return false
}

// UnmanagedID is the finding id of an unmanaged object: it has no address,
// so the object names it.
func UnmanagedID(workspace string, o events.ObjectRef) string {
	return events.FindingID(workspace, "object:"+tfkube.RefKey(o), events.ClassUnmanaged)
}

// Unmanaged builds the finding for a live object in the workspace's scope
// that no workspace manages.
func Unmanaged(ws Workspace, rec *events.InventoryRecord, now time.Time) Result {
	obj := tfkube.Object{Group: rec.Object.Group, Version: rec.Object.Version, Kind: rec.Object.Kind,
		Namespace: rec.Object.Namespace, Name: rec.Object.Name, UID: rec.Object.UID, Resource: rec.Resource}
	ref := rec.Object
	ref.Cluster = ws.Cluster
	f := events.Finding{
		ID:                UnmanagedID(ws.Name, ref),
		Workspace:         ws.Name,
		Object:            ref,
		Class:             events.ClassUnmanaged,
		Risk:              KindRisk(obj, ws.HighRiskKinds),
		Paths:             []string{},
		Attribution:       dedupeAttribution(managers(rec.Managers)),
		RecommendedAction: ActionAdoptOrIgnore,
		FirstSeen:         now.UTC(),
		LastSeen:          now.UTC(),
		State:             events.StateOpen,
	}
	return Result{Finding: f, Planned: "none", Reason: "a live object in the workspace's namespaces and kinds that no workspace manages"}
}
