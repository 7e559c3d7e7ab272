package tfkube

// This file holds what kubectl_manifest leaves out when it compares a
// manifest's YAML with the live object.

// controlFields are the fields the API server and controllers write and
// kubectl_manifest never compares: gavinbunney/kubectl's
// kubernetesControlFields (status, finalizers, initializers,
// ownerReferences, creationTimestamp, generation, resourceVersion, uid,
// kubectl's last-applied annotation, managedFields) plus metadata.selfLink,
// which the API server wrote before Kubernetes 1.20 and Terraform never
// sets.
var controlFields = []string{
	"status",
	"metadata.finalizers", "metadata.initializers", "metadata.ownerReferences",
	"metadata.creationTimestamp", "metadata.generation", "metadata.resourceVersion",
	"metadata.selfLink", "metadata.uid", "metadata.managedFields",
	"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
}

// ControlField reports whether field (a field path, or a flattened key such
// as metadata.finalizers.0 or status.conditions.#) is a control field of a
// kubectl_manifest, or lies inside one: a difference there is never drift
// of the manifest.
func ControlField(field string) bool {
	for _, c := range controlFields {
		if FieldUnder(field, c) {
			return true
		}
	}
	return false
}
