package tofu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultBinary is the tool run when a workspace names none.
const DefaultBinary = "tofu"

// LookPath finds bin (tofu, terraform or a path; empty means DefaultBinary)
// on path, the tool's PATH (not necessarily the caller's), and returns the
// absolute path of an executable file.
func LookPath(bin, path string) (string, error) {
	if bin == "" {
		bin = DefaultBinary
	}
	if strings.ContainsRune(bin, os.PathSeparator) {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		if !executable(abs) {
			return "", fmt.Errorf("binary %s is not an executable file", bin)
		}
		return abs, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		if p := filepath.Join(d, bin); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("binary %q not found on the tool's PATH", bin)
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// ToolName is "tofu" for an OpenTofu binary (its file name says so) and
// "terraform" for any other.
func ToolName(execPath string) string {
	if strings.Contains(filepath.Base(execPath), "tofu") {
		return "tofu"
	}
	return "terraform"
}
