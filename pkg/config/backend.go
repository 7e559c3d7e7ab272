package config

import (
	"sort"
	"strconv"
	"strings"
)

// BackendArgs are a workspace's backend_config entries as init's
// -backend-config takes them ("key=value"), sorted by key.
func BackendArgs(backendConfig map[string]string) []string {
	keys := make([]string, 0, len(backendConfig))
	for k := range backendConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + BackendValue(backendConfig[k])
	}
	return out
}

// BackendValue is a backend_config value as init's -backend-config=K=V
// takes it: the tool reads strings, numbers and bools literally and only
// objects as HCL, so an HCL-quoted string ("tfstate", as .tfbackend files
// write them) is unquoted.
func BackendValue(v string) string {
	t := strings.TrimSpace(v)
	if len(t) >= 2 && t[0] == '"' && t[len(t)-1] == '"' {
		if u, err := strconv.Unquote(t); err == nil {
			return u
		}
	}
	return t
}
