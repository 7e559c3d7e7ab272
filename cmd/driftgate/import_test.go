package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportAndReportArguments(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "driftgate.yaml")
	if err := os.WriteFile(cfg, []byte("workspaces:\n  - name: shop\n    dir: .\n    backend_config: {bucket: b, key: k}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "--workspace", "shop", "--bootstrap"}, "--config is required"},
		{[]string{"import", "--config", cfg, "--bootstrap"}, "--workspace is required"},
		{[]string{"import", "--config", cfg, "--workspace", "shop"}, "--bootstrap is required"},
		{[]string{"import", "--config", cfg, "--workspace", "nope", "--bootstrap", "--yes"}, "nope"},
		{[]string{"import", "--config", cfg, "--workspace", "shop", "--bootstrap", "-o", "yaml"}, "not text or json"},
		// A CI step without a terminal must say --yes.
		{[]string{"import", "--config", cfg, "--workspace", "shop", "--bootstrap"}, "pass --yes"},
		{[]string{"report"}, "--workspace is required"},
		{[]string{"report", "--workspace", "shop", "-o", "html"}, "not markdown or json"},
		{[]string{"report", "--workspace", "shop", "--nats-url", "nats://127.0.0.1:1"}, "cannot reach NATS"},
	} {
		var out, errb bytes.Buffer
		code := dispatch(c.args, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), c.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 {
			t.Errorf("%v: code %d stderr %q, want one line with %q", c.args, code, errb.String(), c.want)
		}
	}
}
