// Package live answers "does this object exist in the cluster, and who owns
// its fields?" for the classifier (classify.Live), from two sources:
//
//   - Inventory reads the inventory bucket the watcher keeps in NATS KV, so
//     the planner and importer need no Kubernetes credentials;
//   - Cluster reads the cluster itself (for driftgate gate, which runs with
//     no pipeline), and can read whole objects (classify.ObjectReader).
//
// A record's field owners come from tfkube.FieldOwners, as the watcher's
// inventory records' do.
package live
