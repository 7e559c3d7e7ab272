package tofu

import "context"

// Version is the tool's version (1.10.10), asked once and remembered.
func (r *Runner) Version(ctx context.Context) (string, error) {
	tf, err := r.terraform(ctx, "version")
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.version != "" {
		return r.version, nil
	}
	v, _, err := tf.Version(ctx, false)
	if err != nil {
		return "", r.classify(ctx, "version", err)
	}
	r.version = v.String()
	return r.version, nil
}
