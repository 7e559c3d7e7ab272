// Package source fetches a workspace's Terraform configuration from Git
// (source.git in the config) and keeps the revision record the planner and
// the importer of the workspace agree on.
//
//   - A Fetcher owns one repository URL in a service's data dir: a bare
//     repository fetched shallow (depth 1) on each new commit, and complete
//     checkouts by commit (checkouts/<sha>), each written to a temporary
//     directory and renamed into place, so a checkout either exists whole or
//     not at all. A failed fetch leaves the last good checkout as it was.
//     Workspaces on the same URL share its Fetcher (Repos).
//   - Resolve asks the remote (ls-remote) which commit the ref names, so a
//     poll that finds nothing new downloads nothing.
//   - Revision is the one record per workspace in the state bucket
//     (source.revision.<workspace>): the commit the planner plans and the
//     importer imports with. The planner writes it; the importer reads it.
//   - Every error is an *Error of a Kind (auth, ref, unreachable, ...), its
//     message free of credentials: the secrets a Fetcher holds are redacted
//     from anything it returns.
//   - Webhook verifies GitHub (X-Hub-Signature-256) and GitLab
//     (X-Gitlab-Token) push webhooks.
package source
