package events

import "time"

// InventoryRecord is what the watcher keeps in the inventory bucket for every
// watched live object, so the planner and importer can ask "does this exist
// live, and whose is it?" without Kubernetes credentials. The key is
// InventoryKey(Object).
type InventoryRecord struct {
	Object          ObjectRef   `json:"object"`
	Resource        string      `json:"resource"` // plural, kubectl style: deployments.apps
	ResourceVersion string      `json:"resource_version"`
	Generation      int64       `json:"generation,omitempty"`
	Managers        []PathOwner `json:"managers,omitempty"` // every field manager, Path empty
	// FieldOwners maps each owned field path (dotted, as in ObjectChanged.Paths)
	// to the manager that owns it.
	FieldOwners map[string]Attribution `json:"field_owners,omitempty"`
	Owners      OwnerHints             `json:"owners,omitzero"`
	Labels      map[string]string      `json:"labels,omitempty"`
	UpdatedAt   time.Time              `json:"updated_at"`
}

// InventoryKey is the inventory bucket key of an object: its cluster, group,
// kind, namespace and name, each escaped.
func InventoryKey(o ObjectRef) string {
	return Key(o.Cluster, o.Group, o.Kind, o.Namespace, o.Name)
}
