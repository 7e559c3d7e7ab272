package tofu

import (
	"context"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// StatePush writes body as the state through the backend. With lock, the
// tool takes the lock and gives up at once when it is held (a
// *LockedError).
func (r *Runner) StatePush(ctx context.Context, body []byte, lock bool) error {
	tf, err := r.terraform(ctx, "state push")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(r.o.Dir, "driftgate-push-*.tfstate")
	if err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return fmt.Errorf("state push: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	return r.classify(ctx, "state push", tf.StatePush(ctx, f.Name(), tfexec.Lock(lock), tfexec.LockTimeout("0s")))
}
