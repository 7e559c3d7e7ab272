package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// fakeTool answers version and init, and on plan waits until interrupted,
// recording the signal it got. It stands in for tofu only to observe which
// signal a cancelled plan receives; real plans run in the lab tests.
const fakeTool = `#!/bin/sh
case "$1" in
version) echo '{"terraform_version":"1.10.10","platform":"linux_amd64","provider_selections":{}}' ;;
init) mkdir -p .terraform ;;
plan)
  trap 'echo INT > "$MARKER"; exit 1' INT
  trap 'echo TERM > "$MARKER"; exit 1' TERM
  echo started > "$MARKER.started"
  while true; do sleep 0.05; done ;;
esac
`

// fakeRunner is a Runner of a module with nothing in it whose tool is the
// shell script tool, run with env; its data dir is dir/data.
func fakeRunner(t *testing.T, tool string, env map[string]string) (r *Runner, dir string) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "tofu")
	if err := os.WriteFile(bin, []byte(tool), 0o700); err != nil {
		t.Fatal(err)
	}
	module := filepath.Join(dir, "module")
	if err := os.MkdirAll(module, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(module, "main.tf"), []byte("# empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := New(Workspace{Name: "w", Dir: module, Binary: bin, Env: env},
		Options{DataDir: filepath.Join(dir, "data"), Environ: []string{"PATH=/usr/bin:/bin"}, WaitDelay: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r, dir
}

// cancelWhenStarted is a context cancelled once the fake tool has created
// marker.started (or after 4 s).
func cancelWhenStarted(t *testing.T, marker string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for i := 0; i < 200; i++ {
			if _, err := os.Stat(marker + ".started"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	return ctx
}

func TestCancelInterruptsTheTool(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "signal")
	r, dir := fakeRunner(t, fakeTool, map[string]string{"MARKER": marker})
	ctx := cancelWhenStarted(t, marker)
	_, err := r.Plan(ctx, []string{"kubernetes_deployment.web"})
	if !errors.Is(err, tofu.ErrCanceled) {
		t.Fatalf("want a canceled error, got %v", err)
	}
	got, _ := os.ReadFile(marker)
	if strings.TrimSpace(string(got)) != "INT" {
		t.Fatalf("the tool got %q, want SIGINT", got)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "data", "workspaces", "w", "plans")); len(entries) != 0 {
		t.Fatalf("plan files left behind: %v", entries)
	}
}
