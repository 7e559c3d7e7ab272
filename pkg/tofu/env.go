package tofu

import (
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// Env is the tool's environment: base (KEY=VALUE), then extra (the
// workspace's env, env_from already resolved), the shared plugin cache
// (unless set), checkpoint calls off, with the variables terraform-exec
// manages itself removed (TF_LOG, TF_CLI_ARGS*, TF_WORKSPACE, ... — so
// nothing in the environment can turn locking back on). It holds secrets;
// never log it.
func Env(base []string, extra map[string]string, pluginCache string) map[string]string {
	env := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	if env["TF_PLUGIN_CACHE_DIR"] == "" && pluginCache != "" {
		env["TF_PLUGIN_CACHE_DIR"] = pluginCache
	}
	env["CHECKPOINT_DISABLE"] = "1"
	return tfexec.CleanEnv(env)
}
