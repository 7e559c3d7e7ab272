// Package notifier is driftgate's alerting service. It routes drift findings,
// import outcomes and cluster-health transitions from the JetStream stream to
// Slack incoming webhooks (Block Kit) and to HMAC-signed generic webhooks
// (CloudEvents in structured mode), as the notify section of the config file
// says.
//
// The contract, in short (docs/notifier.md has it in full):
//
//   - Once per lifecycle: one alert when a finding opens or changes
//     materially, one when it resolves, optional reminders; the findings one
//     plan opens in a workspace arrive as one digest. Redelivered or replayed
//     events never alert twice: dedup marks live in the State bucket.
//   - Delivery you can trust: every sink has its own durable consumer and its
//     own ordered queue; a stream message is acked only after the sink
//     accepted its alert. Attempts back off exponentially with jitter, honour
//     Retry-After, respect the sink's rate limit, and after the attempt limit
//     end in an alert.failed receipt and a metric. Every delivery leaves an
//     alert.delivered receipt in the stream.
//   - Secrets (a Slack webhook URL, a signing secret) come only from the
//     environment variables the config names, and appear in no message, log
//     line or receipt; Secret values are redacted even if an upstream event
//     carried them.
package notifier
