package live

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// The labels and annotations owner hints are read from.
const (
	AnnHelmRelease    = "meta.helm.sh/release-name"
	AnnHelmNamespace  = "meta.helm.sh/release-namespace"
	AnnArgoTrackingID = "argocd.argoproj.io/tracking-id"
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelInstance     = "app.kubernetes.io/instance"
	LabelArgoInstance = "argocd.argoproj.io/instance"
)

// Record builds the inventory record of a live object: the one builder of
// the watcher, the gate and bootstrap. obj gives the identity and metadata
// (an *unstructured.Unstructured, or the watcher's snapshot, which keeps
// only the owner-hint annotations); gvk its group, version and kind;
// resource its plural.group; managers its field managers in managedFields
// order (Path empty) and fieldOwners who owns each field, both as the
// caller parsed metadata.managedFields.
func Record(cluster, resource string, gvk schema.GroupVersionKind, obj metav1.Object,
	managers []events.PathOwner, fieldOwners map[string]events.Attribution, now time.Time) events.InventoryRecord {
	argo := false
	for i := range managers {
		if IsArgoCDManager(managers[i].Manager) {
			argo = true
			break
		}
	}
	return events.InventoryRecord{
		Object: events.ObjectRef{Cluster: cluster, Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: string(obj.GetUID())},
		Resource:        resource,
		ResourceVersion: obj.GetResourceVersion(),
		Generation:      obj.GetGeneration(),
		Managers:        managers,
		FieldOwners:     fieldOwners,
		Owners:          OwnerHints(obj, argo),
		Labels:          obj.GetLabels(),
		UpdatedAt:       now.UTC(),
	}
}

// ObjectRecord is Record of an object read from the API server: its
// managers and field owners are read from its managedFields.
func ObjectRecord(cluster, resource string, u *unstructured.Unstructured, now time.Time) *events.InventoryRecord {
	mfs := u.GetManagedFields()
	r := Record(cluster, resource, u.GroupVersionKind(), u, Managers(mfs), tfkube.FieldOwners(mfs), now)
	return &r
}

// Managers lists every field manager of managedFields, Path empty.
func Managers(mfs []metav1.ManagedFieldsEntry) []events.PathOwner {
	if len(mfs) == 0 {
		return nil
	}
	out := make([]events.PathOwner, len(mfs))
	for i, mf := range mfs {
		a := events.Attribution{Manager: mf.Manager, Operation: string(mf.Operation)}
		if mf.Time != nil {
			t := mf.Time.UTC()
			a.Time = &t
		}
		out[i] = events.PathOwner{Attribution: a}
	}
	return out
}

// argoCDManagers are the field managers Argo CD's application controller
// writes as.
var argoCDManagers = map[string]bool{"argocd-controller": true, "argocd-application-controller": true}

// IsArgoCDManager says whether a field manager is Argo CD's controller.
func IsArgoCDManager(name string) bool { return argoCDManagers[name] }

// OwnerHints reads who else manages obj:
//
//   - Helm, when the release-name annotation is set or the managed-by label
//     is exactly "Helm" (what Helm writes); the release is the annotation,
//     else the app.kubernetes.io/instance label; Helm's own record of a
//     release (HelmRecord) names its release too;
//   - Argo CD, from the tracking-id annotation (the application before its
//     first ':'), else the argocd.argoproj.io/instance label, else the
//     app.kubernetes.io/instance label but only when argoManaged (an Argo CD
//     controller is among the field managers), since Helm charts set that
//     label too;
//   - every ownerReference.
func OwnerHints(obj metav1.Object, argoManaged bool) events.OwnerHints {
	var h events.OwnerHints
	labels, ann := obj.GetLabels(), obj.GetAnnotations()
	if rel := ann[AnnHelmRelease]; rel != "" || labels[LabelManagedBy] == "Helm" {
		if rel == "" {
			rel = labels[LabelInstance]
		}
		h.Helm = &events.HelmRelease{Release: rel, Namespace: ann[AnnHelmNamespace]}
	} else if rec, ok := HelmRecord(obj); ok {
		h.Helm = rec
	}
	switch {
	case ann[AnnArgoTrackingID] != "":
		h.ArgoCD, _, _ = strings.Cut(ann[AnnArgoTrackingID], ":")
	case labels[LabelArgoInstance] != "":
		h.ArgoCD = labels[LabelArgoInstance]
	case labels[LabelInstance] != "" && argoManaged:
		h.ArgoCD = labels[LabelInstance]
	}
	for _, r := range obj.GetOwnerReferences() {
		h.OwnerReferences = append(h.OwnerReferences, events.OwnerReference{
			APIVersion: r.APIVersion, Kind: r.Kind, Name: r.Name, UID: string(r.UID),
			Controller: r.Controller != nil && *r.Controller,
		})
	}
	return h
}
