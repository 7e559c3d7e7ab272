package tofu

import (
	"context"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/driftgate/driftgate/pkg/config"
)

// InitOptions are the options of every init: the backend configuration as
// -backend-config=key=value (sorted by key), -reconfigure (the working dir
// follows the configuration, never migrates state) and no -upgrade (the
// dependency lock file decides the providers).
func InitOptions(backendConfig map[string]string) []tfexec.InitOption {
	opts := []tfexec.InitOption{tfexec.Upgrade(false), tfexec.Reconfigure(true)}
	for _, kv := range config.BackendArgs(backendConfig) {
		opts = append(opts, tfexec.BackendConfig(kv))
	}
	return opts
}

// Init runs init in the working dir with the workspace's backend
// configuration.
func (r *Runner) Init(ctx context.Context) error {
	tf, err := r.terraform(ctx, "init")
	if err != nil {
		return err
	}
	return r.classify(ctx, "init", tf.Init(ctx, InitOptions(r.o.BackendConfig)...))
}
