package tofu

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{"tofu", 0o700}, {"terraform", 0o700}, {"plain", 0o600}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte("#!/bin/sh\n"), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		bin, path, want string
		ok              bool
	}{
		{"", "/nonexistent:" + dir, filepath.Join(dir, "tofu"), true},
		{"terraform", dir, filepath.Join(dir, "terraform"), true},
		{filepath.Join(dir, "tofu"), "", filepath.Join(dir, "tofu"), true},
		{"tofu", "/nonexistent", "", false},
		{"plain", dir, "", false},
		{filepath.Join(dir, "plain"), "", "", false},
		{dir, "", "", false},
	}
	for _, tt := range tests {
		got, err := LookPath(tt.bin, tt.path)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("LookPath(%q, %q) = %q, %v", tt.bin, tt.path, got, err)
		}
	}
	if ToolName("/opt/tofu-1.10/bin/tofu") != "tofu" || ToolName("/usr/bin/terraform") != "terraform" {
		t.Fatal("tool names")
	}
}
