package tofu

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backend is the backend an initialized working directory uses.
type Backend struct {
	Type   string
	Config map[string]any
}

// ReadBackend reads the backend configuration init recorded in a working
// directory's data dir (dataDir/terraform.tfstate, where dataDir is the
// working dir's .terraform or $TF_DATA_DIR). The record merges the backend
// block with every -backend-config, so it is the one place that knows the
// whole location.
func ReadBackend(dataDir string) (Backend, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "terraform.tfstate"))
	if err != nil {
		return Backend{}, fmt.Errorf("read backend record: %w", err)
	}
	var rec struct {
		Backend *struct {
			Type   string         `json:"type"`
			Config map[string]any `json:"config"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Backend{}, fmt.Errorf("read backend record: %w", err)
	}
	if rec.Backend == nil || rec.Backend.Type == "" {
		return Backend{}, errors.New("read backend record: the working dir has no backend (local state cannot be indexed)")
	}
	return Backend{Type: rec.Backend.Type, Config: rec.Backend.Config}, nil
}

// Backend is the backend init recorded in the runner's working dir.
func (r *Runner) Backend() (Backend, error) {
	return ReadBackend(filepath.Join(r.o.Dir, ".terraform"))
}

// StateLocation is where the workspace's state lives, read from the
// initialized backend and the tool's environment. Call it after init.
func (r *Runner) StateLocation() (Location, error) {
	b, err := r.Backend()
	if err != nil {
		return Location{}, fmt.Errorf("workspace %s: %w", r.o.Name, err)
	}
	return LocationFromBackend(b.Type, b.Config, r.env, r.env["TF_WORKSPACE"])
}
