// Package importer adopts live Kubernetes objects into Terraform/OpenTofu
// state under a gate, one import at a time per workspace.
//
// The service (New) turns every "unimported" finding into an import request
// (import.requested), decides it by the workspace's policy — manual
// approval through Decide (driftgate approve/reject), auto, or auto-low-risk —
// and carries approved requests out, high-risk kinds first and each alone:
// preflight, remember the S3 state version, import under the state lock,
// verify by a targeted re-plan, settle Terraform-only attributes, prove the
// live object untouched, and restore the remembered state version on any
// failure (import.rolledback) or keep it (import.succeeded). A journal in
// NATS KV lets the next start finish or roll back an import a crash
// interrupted.
//
// Bootstrap runs the same transaction without a pipeline, for a CI step;
// BuildReport is the per-resource decision table (driftgate report). The
// request record, the signed decision, the decide RPC and the table live in
// pkg/imports, shared with the CLI and the console; the names here alias
// them.
//
// Approvals over the network are authenticated: a decision is signed with
// the approver token (HMAC-SHA256), which the importer checks before it
// publishes the decision; an unsigned or wrongly signed decision is refused
// and never enters the audit trail. The importer keeps the signed decision
// with the request, sealed to the request's content (policy approvals are
// decisions it signs itself), and the executor verifies both again before
// every import: a status in the bucket that no verified decision backs is
// refused (import.rejected by driftgate), never carried out.
package importer
