// Package classify turns a Terraform/OpenTofu JSON plan (terraform-json) into
// drift findings of the classes of DESIGN.md:
//
//   - unimported: the plan creates an address whose object already exists
//     live; the finding carries the import ID for that resource type.
//   - changed: resource_drift shows an update of fields the configuration
//     sets; paths are Kubernetes field paths, attributed to the managers that
//     wrote them.
//   - deleted: the object is in state but gone live (resource_drift delete).
//   - pending-config: a planned change with no drift behind it (a
//     configuration edit not applied yet). Not drift; reported apart.
//   - ignored: drift in fields the configuration does not set (defaulted,
//     or owned by a controller: operator, HPA, Argo CD), or matched by
//     ignore rules. A field the configuration sets, taken over by a
//     controller, is changed (with a field-manager conflict note for
//     server-side-apply resources, Result.Conflict); an address with both
//     gets a changed and an ignored finding. Patch-style resources
//     (kubernetes_labels, ...) are never unimported: their create is
//     pending-config.
//   - unmanaged (Unmanaged): a live object in a workspace's declared scope
//     that no workspace manages.
//   - churn (ChurnRecord): one path flipping between managers N times within
//     a window.
//
// Resources outside the cluster (every type not of hashicorp/kubernetes,
// kubectl or helm: cloud, registry, random_*, null_resource, local_file) are
// classified from the plan alone (external.go): drift delete is deleted,
// drift apply reverts is changed (Terraform attribute paths), other drift
// ignored, creates and config edits pending-config; no object, attributed
// to OutsideCluster.
//
// Differences only in Terraform-only attributes (timeouts, wait_for_rollout)
// and API-server bookkeeping (resource_version) are not findings: the plan
// right after an import shows them and is still clean.
//
// Secret data and every value the plan marks sensitive are redacted from
// excerpts before a Result leaves this package; Reasons never carry values.
package classify
