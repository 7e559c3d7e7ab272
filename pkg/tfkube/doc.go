// Package tfkube is driftgate's one model of Terraform/OpenTofu ↔
// Kubernetes, shared by every service. It knows the resource types of
//
//   - the typed kubernetes_* resources of hashicorp/kubernetes 1.13 to 3.x
//     (kubernetes_deployment, kubernetes_deployment_v1, kubernetes_ingress_v1,
//     kubernetes_horizontal_pod_autoscaler_v2, ...), mapped to kinds by rule,
//   - the patch-style resources of 2.x/3.x (kubernetes_labels,
//     kubernetes_annotations, kubernetes_env, kubernetes_config_map_v1_data,
//     kubernetes_node_taint), which manage part of an object someone else
//     owns,
//   - kubernetes_manifest of hashicorp/kubernetes 2.x/3.x,
//   - kubectl_manifest of gavinbunney/kubectl 1.19 and alekc/kubectl 2.x,
//
// and answers, one concern per file (docs/providers.md is the matrix):
//
//   - kinds.go, object.go: which kind a type manages (KindOf: the rule
//     kubernetes_<snake_kind>[_vN], a table only for true exceptions),
//     which object a resource instance names (ObjectOf) and which import ID
//     adopts a live object (ImportID);
//   - patch.go: the patch-style types (PatchOf), the field manager a
//     resource writes with (FieldManager) and whether it applies
//     server-side (ServerSideApply);
//   - schema.go: the resource types the providers' schema has (Catalog),
//     so an unknown type is reported, not guessed;
//   - resolve.go: group, plural and scope from the cluster's discovery
//     (Resolve, ResolveKind with a client-go RESTMapper);
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
//   - ignore.go: when a difference is "ignored" (IgnoreReason): never
//     because a controller took a field the configuration sets;
//   - manifest.go: kubectl_manifest's control fields (ControlField) and
//     the drift attribute of alekc/kubectl (DriftFields);
//   - redact.go: Secrets and sensitive values (SecretKind, Sensitive,
//     Redacted).
//
// The planner's classifier and the importer's verifier both read plans
// through it, so "ignored" and "clean" mean the same in both. Everything
// here is pure: no I/O; the Kubernetes client's RESTMapper is passed in.
package tfkube
