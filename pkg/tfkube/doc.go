// Package tfkube is driftgate's one model of Terraform/OpenTofu ↔
// Kubernetes, shared by every service. It knows the resource types of
//
//   - the typed kubernetes_* resources of hashicorp/kubernetes 1.13
//     (kubernetes_deployment, kubernetes_config_map, ...),
//   - kubectl_manifest of gavinbunney/kubectl 1.19,
//   - kubernetes_manifest of hashicorp/kubernetes 2.x,
//
// and answers, one concern per file:
//
//   - kinds.go, object.go: which object a resource instance names
//     (ObjectOf) and which import ID adopts a live object (ImportID);
//   - notation.go: the one field-path notation users read in alerts
//     (spec.replicas, metadata.labels.app,
//     spec.template.spec.containers[name=web].image), and matching paths
//     whose list selectors differ (FieldMatches, FieldUnder);
//   - tfpath.go: the attribute paths of the plan JSON (spec.0.replicas) and
//     the field paths they stand for (TypedFieldPathIn, FieldPath);
//   - attr.go: what an attribute is (field, config, live fingerprint,
//     Terraform-only, noise) and which attributes a change touches
//     (AttrChanges);
//   - diff.go: comparing values with null, empty and zero alike;
//   - managedfields.go: metadata.managedFields in the notation
//     (FromFieldsV1) and the owner of each field (FieldOwners), ties
//     broken by ClaimsFirst;
//   - owner.go: the owner of a field (OwnerOf) and controllers versus
//     people (IsController);
//   - ignore.go: when a difference is "ignored" (IgnoreReason);
//   - manifest.go: kubectl_manifest's control fields (ControlField);
//   - redact.go: Secrets and sensitive values (SecretKind, Sensitive,
//     Redacted).
//
// The planner's classifier and the importer's verifier both read plans
// through it, so "ignored" and "clean" mean the same in both. Everything
// here is pure: no I/O, no Kubernetes client.
package tfkube
