package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
)

func TestDiskGuard(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tofu")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := New(Workspace{Name: "w", Dir: dir, Binary: bin}, Options{DataDir: filepath.Join(dir, "data"), MinFreeBytes: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Plan(context.Background(), nil)
	if !errors.Is(err, tofu.ErrDiskLow) {
		t.Fatalf("want a disk-low refusal, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "workspaces")); err == nil {
		t.Fatal("nothing may be written below the threshold")
	}
}

func TestNewFindsBinaryOnToolPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "terraform"), []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := New(Workspace{Name: "w", Dir: dir, Binary: "terraform"}, Options{DataDir: t.TempDir(), Environ: []string{"PATH=" + dir}})
	if err != nil || r.ExecPath() != filepath.Join(dir, "terraform") {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := New(Workspace{Name: "w", Dir: dir, Binary: "tofu"}, Options{DataDir: t.TempDir(), Environ: []string{"PATH=" + dir}}); err == nil {
		t.Fatal("a missing binary must be an error")
	}
}
