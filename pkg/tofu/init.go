package tofu

import (
	"context"
	"sync"

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

// cacheLocks holds one lock per plugin cache dir: inits that share a cache
// run one at a time in this process. OpenTofu 1.10 crashes (a nil pointer
// in providercache.LinkFromOtherCache) when two inits link from one cache
// at once, which a replica running several workspaces' plans side by side
// (planner.max_concurrent_plans) would otherwise do. Across processes the
// cache is not shared: one cache volume per service (docs/sources.md).
var cacheLocks sync.Map // dir -> *sync.Mutex

// Init runs init in the working dir with the workspace's backend
// configuration.
func (r *Runner) Init(ctx context.Context) error {
	tf, err := r.terraform(ctx, "init")
	if err != nil {
		return err
	}
	if dir := r.env["TF_PLUGIN_CACHE_DIR"]; dir != "" {
		mu, _ := cacheLocks.LoadOrStore(dir, new(sync.Mutex))
		mu.(*sync.Mutex).Lock()
		defer mu.(*sync.Mutex).Unlock()
	}
	return r.classify(ctx, "init", tf.Init(ctx, InitOptions(r.o.BackendConfig)...))
}
