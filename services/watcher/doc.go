// Package watcher is driftgate's eyes on Kubernetes: for every configured
// cluster it turns informer changes into object.changed events (changed
// paths, attribution, owner hints), keeps the live inventory in NATS KV, and
// reports cluster health. See docs/watcher.md.
//
// Field paths and managedFields parsing are the shared model's
// (pkg/tfkube). The parts live in internal/:
//
//   - snapshot: what is kept of a live object (fingerprint, owners), the
//     changed-path diff, attribution, owner hints, Secret redaction
//   - inventory: records in the inventory KV bucket
//   - resources: kubectl names and auto resolved through discovery
//   - health: API server reachability and node condition transitions
//   - cluster: informers, work queue, workers, terms, leader election
package watcher
