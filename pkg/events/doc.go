// Package events is driftgate's event contract: the versioned data types every
// service publishes, their CloudEvents 1.0 envelope, the NATS subjects they are
// stored under, and the JetStream plumbing (stream, publish with dedup, pull
// consumers with dead-lettering, KV buckets and leases) the services share.
//
// Every event type is dev.driftgate.<noun>.<verb>.v1 and is stored on the NATS
// subject driftgate.<noun>.<verb>.<subject tokens>, where the tokens name the
// object or workspace with EscapeToken so any Kubernetes name stays a valid,
// reversible subject token.
package events
