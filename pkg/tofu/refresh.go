package tofu

import (
	"context"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// Refresh reads the live objects of the targets and records what it read in
// the state (refresh-only: the providers' Read, GET requests only). With
// lock, the tool takes the lock and gives up at once when it is held (a
// *LockedError).
func (r *Runner) Refresh(ctx context.Context, targets []string, lock bool) error {
	tf, err := r.terraform(ctx, "refresh")
	if err != nil {
		return err
	}
	opts := []tfexec.RefreshCmdOption{tfexec.Lock(lock), tfexec.LockTimeout("0s")}
	for _, t := range targets {
		opts = append(opts, tfexec.Target(t))
	}
	for _, f := range r.varFiles() {
		opts = append(opts, tfexec.VarFile(f))
	}
	return r.classify(ctx, "refresh", tf.Refresh(ctx, opts...))
}
