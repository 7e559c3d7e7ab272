package snapshot

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Meta is the metadata a snapshot keeps: identity, labels, the owner-hint
// annotations and ownerReferences. It implements metav1.Object (the
// informers key objects by it, live.Record and live.OwnerHints read it);
// what it does not keep reads as empty and is not set. It is about half
// the size of a metav1.ObjectMeta, most of whose fields a snapshot leaves
// empty.
type Meta struct {
	Name            string
	Namespace       string
	UID             types.UID
	ResourceVersion string
	Generation      int64
	Labels          map[string]string // shared (InternLabels): never mutated
	Annotations     map[string]string // only the owner-hint annotations
	OwnerReferences []metav1.OwnerReference
}

var _ metav1.Object = &Meta{}

func (m *Meta) GetNamespace() string                          { return m.Namespace }
func (m *Meta) SetNamespace(v string)                         { m.Namespace = v }
func (m *Meta) GetName() string                               { return m.Name }
func (m *Meta) SetName(v string)                              { m.Name = v }
func (m *Meta) GetGenerateName() string                       { return "" }
func (m *Meta) SetGenerateName(string)                        {}
func (m *Meta) GetUID() types.UID                             { return m.UID }
func (m *Meta) SetUID(v types.UID)                            { m.UID = v }
func (m *Meta) GetResourceVersion() string                    { return m.ResourceVersion }
func (m *Meta) SetResourceVersion(v string)                   { m.ResourceVersion = v }
func (m *Meta) GetGeneration() int64                          { return m.Generation }
func (m *Meta) SetGeneration(v int64)                         { m.Generation = v }
func (m *Meta) GetSelfLink() string                           { return "" }
func (m *Meta) SetSelfLink(string)                            {}
func (m *Meta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *Meta) SetCreationTimestamp(metav1.Time)              {}
func (m *Meta) GetDeletionTimestamp() *metav1.Time            { return nil }
func (m *Meta) SetDeletionTimestamp(*metav1.Time)             {}
func (m *Meta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *Meta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *Meta) GetLabels() map[string]string                  { return m.Labels }
func (m *Meta) SetLabels(v map[string]string)                 { m.Labels = v }
func (m *Meta) GetAnnotations() map[string]string             { return m.Annotations }
func (m *Meta) SetAnnotations(v map[string]string)            { m.Annotations = v }
func (m *Meta) GetFinalizers() []string                       { return nil }
func (m *Meta) SetFinalizers([]string)                        {}
func (m *Meta) GetOwnerReferences() []metav1.OwnerReference   { return m.OwnerReferences }
func (m *Meta) SetOwnerReferences(v []metav1.OwnerReference)  { m.OwnerReferences = v }
func (m *Meta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *Meta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}

// deepCopy copies m; the label map is shared (never mutated).
func (m *Meta) deepCopy() Meta {
	c := *m
	if m.Annotations != nil {
		c.Annotations = make(map[string]string, len(m.Annotations))
		for k, v := range m.Annotations {
			c.Annotations[k] = v
		}
	}
	if m.OwnerReferences != nil {
		c.OwnerReferences = make([]metav1.OwnerReference, len(m.OwnerReferences))
		for i := range m.OwnerReferences {
			m.OwnerReferences[i].DeepCopyInto(&c.OwnerReferences[i])
		}
	}
	return c
}
