// Package tfkube knows how the resource types of the Terraform/OpenTofu
// Kubernetes providers map to the Kubernetes objects they manage:
//
//   - the typed kubernetes_* resources of hashicorp/kubernetes 1.13
//     (kubernetes_deployment, kubernetes_config_map, ...),
//   - kubectl_manifest of gavinbunney/kubectl 1.19,
//   - kubernetes_manifest of hashicorp/kubernetes 2.x.
//
// For each it answers: which object does a resource instance name (ObjectOf),
// which import ID adopts a live object into that resource type (ImportID),
// and which Kubernetes field path an attribute path of the plan JSON stands
// for (Attr). Diff compares two attribute values and returns the attribute
// paths that differ. Everything here is pure: no I/O, no Kubernetes client.
//
// Field paths are dotted, with list elements as [i]:
// spec.replicas, metadata.labels.app, spec.template.spec.containers[0].image.
package tfkube
