// Package chaos is driftgate's fault suite (issue 15): every service as its
// own process from its own binary, two replicas each of the planner,
// importer and notifier and a leader-elected pair of watchers, on a
// three-node NATS JetStream cluster on loopback (test/natslab) with the
// stream and buckets at replicas 3, against the lab (kube-apiserver, S3).
// A load driver changes a workspace steadily; faults are injected while
// work is in flight, and each becomes one row of a table: changes made,
// findings expected vs reported, alerts delivered, lost, duplicate alerts,
// unintended live changes, state versions corrupted, time to recover.
//
// `make chaos` runs the long form (CHAOS=long); `make chaos-short` (and go
// test on this package) runs the short form: each fault once, bounded.
// docs/operations.md explains the table and carries its figures.
package chaos
