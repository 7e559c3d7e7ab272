// Package live reads what the importer must prove unchanged about a live
// object: its uid, resourceVersion, generation and field managers, and for
// workloads the uids and restart counts of their pods.
package live

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Reader reads live objects of one cluster.
type Reader struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
}

// NewReader returns a reader for the cluster cfg points at.
func NewReader(cfg *rest.Config) (*Reader, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: %w", err)
	}
	return &Reader{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// ManagedField is one metadata.managedFields entry, without its field set.
type ManagedField struct {
	Manager     string `json:"manager"`
	Operation   string `json:"operation"`
	Subresource string `json:"subresource,omitempty"`
	Time        string `json:"time,omitempty"`
}

// Pod is one pod of a workload.
type Pod struct {
	Name     string `json:"name"`
	UID      string `json:"uid"`
	Restarts int32  `json:"restarts"`
}

// Snapshot is what must not change while an object is imported.
type Snapshot struct {
	Exists          bool           `json:"exists"`
	Resource        string         `json:"resource,omitempty"` // plural.group
	UID             string         `json:"uid,omitempty"`
	ResourceVersion string         `json:"resource_version,omitempty"`
	Generation      int64          `json:"generation,omitempty"`
	ManagedFields   []ManagedField `json:"managed_fields,omitempty"`
	// Metadata is the object's labels, annotations, finalizers and owner
	// references as JSON: writes there do not move the generation.
	Metadata string `json:"metadata,omitempty"`
	// Pods of a workload (selected by spec.selector.matchLabels, or owned
	// by the object); nil for other kinds.
	Pods []Pod `json:"pods,omitempty"`
	// FieldOwners maps owned field paths (spec.replicas) to their manager
	// (tfkube.FieldOwners).
	FieldOwners map[string]events.Attribution `json:"-"`
	// Object is the whole live object.
	Object map[string]any `json:"-"`
}

// Resource returns the object's resource name (plural.group) and whether
// it is namespaced, from discovery.
func (r *Reader) Resource(o events.ObjectRef) (schema.GroupVersionResource, bool, error) {
	m, err := r.mapper.RESTMapping(schema.GroupKind{Group: o.Group, Kind: o.Kind}, o.Version)
	if err != nil {
		r.mapper.Reset()
		m, err = r.mapper.RESTMapping(schema.GroupKind{Group: o.Group, Kind: o.Kind}, o.Version)
	}
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("resource of %s: %w", o.String(), err)
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Snapshot reads the object (and its pods). A missing object is a snapshot
// with Exists false, not an error.
func (r *Reader) Snapshot(ctx context.Context, o events.ObjectRef) (Snapshot, error) {
	gvr, namespaced, err := r.Resource(o)
	if err != nil {
		return Snapshot{}, err
	}
	var ri dynamic.ResourceInterface = r.dyn.Resource(gvr)
	if namespaced {
		ri = r.dyn.Resource(gvr).Namespace(o.Namespace)
	}
	u, err := ri.Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Snapshot{Resource: resourceName(gvr)}, nil
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("get %s: %w", o.String(), err)
	}
	s := Snapshot{
		Exists: true, Resource: resourceName(gvr), UID: string(u.GetUID()),
		ResourceVersion: u.GetResourceVersion(), Generation: u.GetGeneration(),
		FieldOwners: tfkube.FieldOwners(u.GetManagedFields()), Object: u.Object,
	}
	md, _ := json.Marshal([]any{u.GetLabels(), u.GetAnnotations(), u.GetFinalizers(), u.GetOwnerReferences()})
	s.Metadata = string(md)
	for _, mf := range u.GetManagedFields() {
		e := ManagedField{Manager: mf.Manager, Operation: string(mf.Operation), Subresource: mf.Subresource}
		if mf.Time != nil {
			e.Time = mf.Time.UTC().Format("2006-01-02T15:04:05Z")
		}
		s.ManagedFields = append(s.ManagedFields, e)
	}
	if namespaced {
		pods, isWorkload, err := r.pods(ctx, u)
		if err != nil {
			return Snapshot{}, err
		}
		if isWorkload {
			s.Pods = pods
			if s.Pods == nil {
				s.Pods = []Pod{}
			}
		}
	}
	return s, nil
}

func resourceName(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

var podsGVR = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
var replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}

// pods returns the pods of a workload: selected by spec.selector.matchLabels
// when the object has a pod template, else owned by the object (operators'
// custom resources own their pods).
func (r *Reader) pods(ctx context.Context, u *unstructured.Unstructured) ([]Pod, bool, error) {
	ns := u.GetNamespace()
	ml, hasSel, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	_, hasTemplate, _ := unstructured.NestedMap(u.Object, "spec", "template")
	list, err := r.dyn.Resource(podsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	owners := map[string]bool{string(u.GetUID()): true}
	if u.GetKind() == "Deployment" {
		rs, err := r.dyn.Resource(replicaSetsGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, false, fmt.Errorf("list replicasets in %s: %w", ns, err)
		}
		for _, x := range rs.Items {
			for _, or := range x.GetOwnerReferences() {
				if or.UID == u.GetUID() {
					owners[string(x.GetUID())] = true
				}
			}
		}
	}
	var sel labels.Selector
	if hasSel && hasTemplate && len(ml) > 0 {
		sel = labels.SelectorFromSet(ml)
	}
	var out []Pod
	owned := false
	for _, p := range list.Items {
		match := sel != nil && sel.Matches(labels.Set(p.GetLabels()))
		for _, or := range p.GetOwnerReferences() {
			if owners[string(or.UID)] {
				match, owned = true, true
			}
		}
		if !match {
			continue
		}
		pod := Pod{Name: p.GetName(), UID: string(p.GetUID())}
		statuses, _, _ := unstructured.NestedSlice(p.Object, "status", "containerStatuses")
		for _, cs := range statuses {
			if m, ok := cs.(map[string]any); ok {
				if n, ok := m["restartCount"].(int64); ok {
					pod.Restarts += int32(n)
				}
			}
		}
		out = append(out, pod)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, sel != nil || owned, nil
}

// Changes lists how after differs from before in what an import must not
// change; empty means untouched. A resourceVersion that moved only because
// a controller wrote the status subresource is not a change of the object.
func Changes(before, after Snapshot) []string {
	var out []string
	switch {
	case !after.Exists:
		return []string{"the object no longer exists"}
	case after.UID != before.UID:
		return []string{fmt.Sprintf("uid changed from %s to %s (deleted and recreated)", before.UID, after.UID)}
	}
	if after.Generation != before.Generation {
		out = append(out, fmt.Sprintf("generation changed from %d to %d", before.Generation, after.Generation))
	}
	if after.Metadata != before.Metadata {
		out = append(out, "labels, annotations, finalizers or owner references changed")
	}
	if after.ResourceVersion != before.ResourceVersion {
		if w := nonStatusWrites(before.ManagedFields, after.ManagedFields); len(w) > 0 || after.Generation != before.Generation {
			out = append(out, fmt.Sprintf("resourceVersion changed from %s to %s (written by %s)",
				before.ResourceVersion, after.ResourceVersion, strings.Join(w, ", ")))
		}
	}
	if before.Pods != nil {
		bp := map[string]Pod{}
		for _, p := range before.Pods {
			bp[p.UID] = p
		}
		ap := map[string]bool{}
		for _, p := range after.Pods {
			ap[p.UID] = true
			b, ok := bp[p.UID]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("pod %s (%s) is new", p.Name, p.UID))
			case p.Restarts != b.Restarts:
				out = append(out, fmt.Sprintf("pod %s restarted (%d -> %d)", p.Name, b.Restarts, p.Restarts))
			}
		}
		for _, p := range before.Pods {
			if !ap[p.UID] {
				out = append(out, fmt.Sprintf("pod %s (%s) is gone", p.Name, p.UID))
			}
		}
	}
	return out
}

// nonStatusWrites names the managers whose non-status entries are new or
// have a new time.
func nonStatusWrites(before, after []ManagedField) []string {
	seen := map[ManagedField]bool{}
	for _, m := range before {
		seen[m] = true
	}
	var out []string
	for _, m := range after {
		if !seen[m] && m.Subresource != "status" {
			out = append(out, m.Manager+" ("+m.Operation+")")
		}
	}
	return out
}
