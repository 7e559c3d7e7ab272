// Package live answers "does this object exist in the cluster, and who owns
// its fields?" for the classifier (classify.Live), from two sources:
//
//   - Inventory reads the inventory bucket the watcher keeps in NATS KV, so
//     the planner and importer need no Kubernetes credentials;
//   - Cluster reads the cluster itself (for driftgate gate, which runs with
//     no pipeline), and can read whole objects (classify.ObjectReader).
//
// Record builds the inventory record of a live object (identity, uid,
// resourceVersion, managers, owner hints), the one builder the watcher, the
// gate and bootstrap share; OwnerHints is the one reading of Helm, Argo CD
// and ownerReferences. Field owners come from tfkube.FieldOwners, as the
// watcher's inventory records' do.
package live
