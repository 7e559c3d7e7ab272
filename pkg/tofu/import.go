package tofu

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// Import runs import ADDRESS ID. With lock, the tool takes the state lock
// and gives up at once when someone holds it (an *Error of KindLock that is
// also a *LockedError); without, the caller holds the lock.
func (r *Runner) Import(ctx context.Context, address, id string, lock bool) error {
	tf, err := r.terraform(ctx, "import")
	if err != nil {
		return err
	}
	opts := []tfexec.ImportOption{tfexec.Lock(lock), tfexec.LockTimeout("0s")}
	for _, f := range r.varFiles() {
		opts = append(opts, tfexec.VarFile(f))
	}
	if err := tf.Import(ctx, address, id, opts...); err != nil {
		return fmt.Errorf("import %s %s: %w", address, id, r.classify(ctx, "import", err))
	}
	return nil
}
