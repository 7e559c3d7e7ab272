package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// A targeted plan on a scoped state (PlanScoped) runs in a second working
// copy of the module, <work>/scoped, whose backend an override file
// replaces with a local one reading <work>/scoped.tfstate: the state the
// caller cut down to the targets (stateindex.Scope). That copy is synced
// from the main one (its dependency lock file included), initialised once
// per change of what init reads, with the same plugin cache, and never
// reaches the real backend: nothing there is read, locked or written, and
// the plan runs with -lock=false like every other.

// scopedOverride is the override file of the scoped copy. Override files
// are merged in lexical order and a backend block in one replaces the
// configuration's, so this name sorts after the usual ones
// (backend_override.tf, lab_backend_override.tf.json).
const scopedOverride = "zzz_driftgate_scoped_state_override.tf.json"

// ErrNotScopable is returned (wrapped, with the reason) by PlanScoped when
// the workspace cannot be planned on a local copy of its state: the caller
// plans it on the real backend.
var ErrNotScopable = errors.New("workspace cannot plan on a scoped state")

// PlanScoped plans targets like Plan, but on state (a state file, format
// version 4, normally cut down to the targets) instead of the backend's:
// see the comment above scopedOverride. The state file is deleted once the
// plan is read. Result.Scoped is set.
func (r *Runner) PlanScoped(ctx context.Context, targets []string, state []byte) (*Result, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("%w: a plan on a scoped state needs targets", ErrNotScopable)
	}
	// TF_WORKSPACE never reaches the tool (tofu.Env drops it) and the
	// working copies hold no .terraform/environment: both plan the default
	// workspace.
	if r.tf.Env()["TF_DATA_DIR"] != "" {
		// Both copies would share one data dir, and with it the backend.
		return nil, fmt.Errorf("%w: TF_DATA_DIR is set", ErrNotScopable)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	res, err := r.startPlan(ctx, targets, true)
	if err != nil {
		return nil, err
	}
	statePath := r.scopedStatePath()
	if err := os.WriteFile(statePath, state, 0o600); err != nil {
		return nil, r.wrap(ctx, "plan", fmt.Errorf("write the scoped state: %w", err))
	}
	defer os.Remove(statePath)
	return r.planWith(ctx, r.scoped, res, targets)
}

func (r *Runner) scopedStatePath() string { return filepath.Join(r.workDir, "scoped.tfstate") }

// prepareScoped syncs the scoped copy from the main one (prepared first)
// and runs init there when what init reads changed. It reports whether
// init ran.
func (r *Runner) prepareScoped(ctx context.Context) (bool, error) {
	if err := os.MkdirAll(r.scopedDir, 0o700); err != nil {
		return false, r.wrap(ctx, "prepare", err)
	}
	sum, err := tofu.SyncModule(r.moduleDir, r.scopedDir)
	if err != nil {
		return false, r.wrap(ctx, "prepare", fmt.Errorf("copy the working copy: %w", err))
	}
	if name, err := laterOverride(r.scopedDir); err != nil {
		return false, r.wrap(ctx, "prepare", err)
	} else if name != "" {
		return false, fmt.Errorf("%w: override file %s would be merged after driftgate's backend override", ErrNotScopable, name)
	}
	override, err := json.MarshalIndent(map[string]any{
		"terraform": map[string]any{"backend": map[string]any{"local": map[string]any{"path": r.scopedStatePath()}}},
	}, "", "  ")
	if err != nil {
		return false, r.wrap(ctx, "prepare", err)
	}
	if err := os.WriteFile(filepath.Join(r.scopedDir, scopedOverride), override, 0o600); err != nil {
		return false, r.wrap(ctx, "prepare", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "bin %s %s\n", r.tf.ExecPath(), r.toolVersion)
	h.Write([]byte(sum))
	h.Write(override)
	want := hex.EncodeToString(h.Sum(nil))
	marker := filepath.Join(r.workDir, "scoped-init.sum")
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		if _, err := os.Stat(filepath.Join(r.scopedDir, ".terraform")); err == nil {
			return false, nil
		}
	}
	cl := cacheLock(r.cacheDir)
	cl.Lock()
	defer cl.Unlock()
	r.log.Info("init of the scoped-state working copy", "reason", "module, lock file or binary changed")
	if err := r.scoped.Init(ctx); err != nil {
		_ = os.Remove(marker)
		return false, err
	}
	if err := os.WriteFile(marker, []byte(want), 0o600); err != nil {
		return true, r.wrap(ctx, "init", err)
	}
	return true, nil
}

// laterOverride names an override file of dir that the tool would merge
// after scopedOverride (and that could set the backend again), or "".
func laterOverride(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || n == scopedOverride || n <= scopedOverride {
			continue
		}
		for _, ext := range []string{".tf", ".tf.json", ".tofu", ".tofu.json"} {
			if base, ok := strings.CutSuffix(n, ext); ok && (base == "override" || strings.HasSuffix(base, "_override")) {
				return n, nil
			}
		}
	}
	return "", nil
}
