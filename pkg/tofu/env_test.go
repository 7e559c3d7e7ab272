package tofu

import "testing"

func TestToolEnv(t *testing.T) {
	env := Env([]string{"PATH=/bin", "TF_LOG=TRACE", "TF_CLI_ARGS_plan=-lock=true", "HOME=/root"},
		map[string]string{"AWS_ACCESS_KEY_ID": "ak"}, "/data/plugin-cache")
	if env["PATH"] != "/bin" || env["AWS_ACCESS_KEY_ID"] != "ak" || env["TF_PLUGIN_CACHE_DIR"] != "/data/plugin-cache" {
		t.Fatalf("env %v", env)
	}
	if _, ok := env["TF_CLI_ARGS_plan"]; ok {
		t.Fatal("TF_CLI_ARGS_* must not reach the tool: it could turn locking back on")
	}
	if _, ok := env["TF_LOG"]; ok {
		t.Fatal("TF_LOG is managed by terraform-exec")
	}
}
