package live

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// Labels of Helm 3's release records (storage driver "secret" or
// "configmap"): owner=helm, name=<release>.
const (
	LabelHelmRecordOwner = "owner"
	LabelHelmRecordName  = "name"
)

// HelmRecord reads whether obj is Helm 3's record of a release: a Secret
// (type helm.sh/release.v1) or ConfigMap named sh.helm.release.v1.* with
// the labels owner=helm and name=<release>, in the release's namespace.
func HelmRecord(obj metav1.Object) (*events.HelmRelease, bool) {
	l := obj.GetLabels()
	if l[LabelHelmRecordOwner] != "helm" || l[LabelHelmRecordName] == "" || !isHelmRecordName(obj.GetName()) {
		return nil, false
	}
	return &events.HelmRelease{Release: l[LabelHelmRecordName], Namespace: obj.GetNamespace(), Record: true}, true
}

func isHelmRecordName(name string) bool {
	return strings.HasPrefix(name, "sh.helm.release.v1.")
}

// HelmReleaseOf reports which release (namespace, name) an object belongs
// to by its owner hints. ok is false for objects of no release and for
// objects a controller made (a ReplicaSet copies its Deployment's Helm
// annotations; it is the Deployment's, not the release's). The release
// namespace is the annotation, else the object's own namespace.
func HelmReleaseOf(o events.ObjectRef, h events.OwnerHints) (namespace, name string, record, ok bool) {
	if h.Helm == nil || h.Helm.Release == "" {
		return "", "", false, false
	}
	for _, r := range h.OwnerReferences {
		if r.Controller {
			return "", "", false, false
		}
	}
	ns := h.Helm.Namespace
	if ns == "" {
		ns = o.Namespace
	}
	return ns, h.Helm.Release, h.Helm.Record, true
}

// ReleaseObjects lists the inventory records of cluster's objects that
// belong to the Helm release namespace/name (HelmReleaseOf), Helm's own
// records included. It reads the inventory once (a KV watch of the
// cluster's keys, which delivers every current value), not key by key.
func (i Inventory) ReleaseObjects(ctx context.Context, cluster, namespace, name string) ([]events.InventoryRecord, error) {
	w, err := i.KV.Watch(ctx, events.Key(cluster)+".>", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("inventory: release %s/%s: %w", namespace, name, err)
	}
	defer func() { _ = w.Stop() }()
	var out []events.InventoryRecord
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, open := <-w.Updates():
			if !open {
				return nil, fmt.Errorf("inventory: release %s/%s: watch closed", namespace, name)
			}
			if e == nil {
				return out, nil // every current value delivered
			}
			var rec events.InventoryRecord
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				continue
			}
			if ns, n, _, ok := HelmReleaseOf(rec.Object, rec.Owners); ok && ns == namespace && n == name {
				out = append(out, rec)
			}
		}
	}
}
