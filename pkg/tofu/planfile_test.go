package tofu_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// A file the native decoder cannot read is ErrPlanFileUnsupported, so the
// caller falls back to show -json.
func TestDecodePlanFileUnsupported(t *testing.T) {
	dir := t.TempDir()
	notZip := filepath.Join(dir, "plan.tfplan")
	if err := os.WriteFile(notZip, []byte("not a plan"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"not a zip": notZip, "missing": filepath.Join(dir, "none")} {
		if _, err := tofu.DecodePlanFile(file, nil, "1.2"); !errors.Is(err, tofu.ErrPlanFileUnsupported) {
			t.Errorf("%s: %v, want ErrPlanFileUnsupported", name, err)
		}
	}
}
