package tofu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lockedTool answers version and init, and refuses import, refresh and
// state push the way tofu 1.10 does when someone else holds the lock
// ($FIXTURE is its recorded output).
const lockedTool = `#!/bin/sh
case "$1" in
version) echo '{"terraform_version":"1.10.10","platform":"linux_amd64","provider_selections":{}}' ;;
init) mkdir -p .terraform ;;
*) cat "$FIXTURE" >&2; exit 1 ;;
esac
`

func TestCommandsReportAHeldLock(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tofu")
	if err := os.WriteFile(bin, []byte(lockedTool), 0o700); err != nil {
		t.Fatal(err)
	}
	fixture, err := filepath.Abs(filepath.Join("testdata", "tofu-1.10.10", "plan-lock-held.txt"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "module")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.tf"), []byte("# empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := Open(ctx, src, Options{Name: "w", Dir: filepath.Join(dir, "work"), Binary: "tofu",
		Environ: []string{"PATH=" + dir + ":/usr/bin:/bin"}, Env: map[string]string{"FIXTURE": fixture}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ExecPath() != bin || r.Tool() != "tofu" {
		t.Fatalf("binary %s (%s)", r.ExecPath(), r.Tool())
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "main.tf")); err != nil {
		t.Fatalf("the module was not copied: %v", err)
	}
	for name, run := range map[string]func() error{
		"import":     func() error { return r.Import(ctx, "kubernetes_config_map.a", "shop/a", true) },
		"refresh":    func() error { return r.Refresh(ctx, []string{"kubernetes_config_map.a"}, true) },
		"state push": func() error { return r.StatePush(ctx, []byte(`{}`), true) },
	} {
		err := run()
		var le *LockedError
		if !errors.Is(err, ErrLock) || !errors.As(err, &le) || le.Holder.Who != "root@vm" {
			t.Errorf("%s: %v, want a held lock naming root@vm", name, err)
		}
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %q does not name the command", name, err)
		}
	}
}
