// Package tofu runs OpenTofu or Terraform for every driftgate service and
// reads the state they keep in S3. It is the one place that knows:
//
//   - which binary runs (tofu, terraform or a path, looked up on the tool's
//     own PATH) and with which environment (see Env);
//   - how a command is run: through terraform-exec, in a working copy of the
//     module (see SyncModule), init with the workspace's backend_config;
//     cancelling the context interrupts the tool with SIGINT and waits for it
//     to stop (WaitDelay) before anything is killed, so no state lock is left
//     behind;
//   - what a failure means: every command returns an *Error classified by
//     Kind (lock held, state missing, provider, config, credentials, ...);
//     a held lock is also a *LockedError naming the holder (errors.As);
//   - where the state lives: the s3 backend's settings in either tool's
//     spelling (see ParseS3Backend), read with versions (Store) and locked the
//     way OpenTofu's use_lockfile does (Store.Lock, a KEY.tflock object).
//
// The planner never takes the state lock (its plans run with -lock=false and
// it only reads the state object); the importer takes it and waits while it
// is held, and nothing here can force-unlock it.
package tofu
