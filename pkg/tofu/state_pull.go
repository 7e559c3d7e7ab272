package tofu

import "context"

// StatePull returns the current state file through the backend.
func (r *Runner) StatePull(ctx context.Context) ([]byte, error) {
	tf, err := r.terraform(ctx, "state pull")
	if err != nil {
		return nil, err
	}
	s, err := tf.StatePull(ctx)
	if err != nil {
		return nil, r.classify(ctx, "state pull", err)
	}
	return []byte(s), nil
}
