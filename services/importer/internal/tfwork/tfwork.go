// Package tfwork runs OpenTofu or Terraform for the importer in a private
// working copy of a workspace's configuration: init, import (with or without
// the state lock), targeted plans read as JSON, state pull and push.
//
// Failures come back classified: a state lock held by someone else is a
// *LockedError (errors.As), so callers wait and retry instead of failing,
// and never force-unlock. Cancelling a command sends SIGINT and waits
// (terraform-exec's WaitDelay), so no lock is left behind.
package tfwork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
)

// Options say how to run the tool in a workspace.
type Options struct {
	// Source is the configuration directory; it is copied into Dir.
	Source string
	// Dir is the working copy (created; its .terraform is reused).
	Dir string
	// Binary is the tool: a path, or a name looked up on PATH in Environ.
	Binary        string
	BackendConfig map[string]string
	VarFiles      []string // relative to Source, or absolute
	// Environ is the tool's whole environment (KEY=VALUE).
	Environ []string
	// Stderr, when set, receives the tool's stderr.
	Stderr io.Writer
}

// Workspace is an initialised working copy.
type Workspace struct {
	opts    Options
	tf      *tfexec.Terraform
	version string
	n       int
}

// Open copies the configuration into opts.Dir and runs init.
func Open(ctx context.Context, opts Options) (*Workspace, error) {
	bin, err := lookPath(opts.Binary, opts.Environ)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("working copy: %w", err)
	}
	if err := copyConfig(opts.Source, opts.Dir); err != nil {
		return nil, fmt.Errorf("working copy of %s: %w", opts.Source, err)
	}
	tf, err := tfexec.NewTerraform(opts.Dir, bin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	env := map[string]string{}
	for _, kv := range opts.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	if err := tf.SetEnv(tfexec.CleanEnv(env)); err != nil {
		return nil, err
	}
	_ = tf.SetWaitDelay(30 * time.Second)
	if opts.Stderr != nil {
		tf.SetStderr(opts.Stderr)
	}
	w := &Workspace{opts: opts, tf: tf}
	var initOpts []tfexec.InitOption
	for _, kv := range config.BackendArgs(opts.BackendConfig) {
		initOpts = append(initOpts, tfexec.BackendConfig(kv))
	}
	initOpts = append(initOpts, tfexec.Reconfigure(true), tfexec.Upgrade(false))
	if err := tf.Init(ctx, initOpts...); err != nil {
		return nil, fmt.Errorf("init %s: %w", opts.Source, classify(err))
	}
	ver, _, err := tf.Version(ctx, true)
	if err == nil && ver != nil {
		w.version = ver.String()
	}
	return w, nil
}

// Dir is the working copy.
func (w *Workspace) Dir() string { return w.opts.Dir }

// Tool is the binary's base name (tofu, terraform).
func (w *Workspace) Tool() string { return filepath.Base(w.tf.ExecPath()) }

// Version is the tool's version as it reports it.
func (w *Workspace) Version() string { return w.version }

func (w *Workspace) varFiles() []string {
	var out []string
	for _, f := range w.opts.VarFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(w.opts.Source, f)
		}
		out = append(out, f)
	}
	return out
}

// Import runs import ADDRESS ID. With lock, the tool takes the state lock
// and gives up at once when someone holds it (a *LockedError); without, the
// caller holds the lock.
func (w *Workspace) Import(ctx context.Context, address, id string, lock bool) error {
	opts := []tfexec.ImportOption{tfexec.Lock(lock), tfexec.LockTimeout("0s")}
	for _, f := range w.varFiles() {
		opts = append(opts, tfexec.VarFile(f))
	}
	if err := w.tf.Import(ctx, address, id, opts...); err != nil {
		return fmt.Errorf("import %s %s: %w", address, id, classify(err))
	}
	return nil
}

// PlanOptions narrow a plan.
type PlanOptions struct {
	Targets []string
	// NoRefresh plans against the state as it is, without asking the
	// provider to read the live objects.
	NoRefresh bool
}

// Plan runs a plan that never takes the state lock and returns it as JSON.
func (w *Workspace) Plan(ctx context.Context, po PlanOptions) (*tfjson.Plan, error) {
	w.n++
	out := filepath.Join(w.opts.Dir, fmt.Sprintf("driftgate-%d.tfplan", w.n))
	defer os.Remove(out)
	opts := []tfexec.PlanOption{tfexec.Out(out), tfexec.Lock(false), tfexec.Refresh(!po.NoRefresh)}
	for _, t := range po.Targets {
		opts = append(opts, tfexec.Target(t))
	}
	for _, f := range w.varFiles() {
		opts = append(opts, tfexec.VarFile(f))
	}
	if _, err := w.tf.Plan(ctx, opts...); err != nil {
		return nil, fmt.Errorf("plan: %w", classify(err))
	}
	p, err := w.tf.ShowPlanFile(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("show plan: %w", classify(err))
	}
	return p, nil
}

// Refresh reads the live objects of the targets and records what it read in
// the state (refresh-only: the provider's Read, GET requests only). With
// lock, the tool takes the lock (a *LockedError when held).
func (w *Workspace) Refresh(ctx context.Context, targets []string, lock bool) error {
	opts := []tfexec.RefreshCmdOption{tfexec.Lock(lock), tfexec.LockTimeout("0s")}
	for _, t := range targets {
		opts = append(opts, tfexec.Target(t))
	}
	for _, f := range w.varFiles() {
		opts = append(opts, tfexec.VarFile(f))
	}
	if err := w.tf.Refresh(ctx, opts...); err != nil {
		return fmt.Errorf("refresh: %w", classify(err))
	}
	return nil
}

// StatePull returns the current state file.
func (w *Workspace) StatePull(ctx context.Context) ([]byte, error) {
	s, err := w.tf.StatePull(ctx)
	if err != nil {
		return nil, fmt.Errorf("state pull: %w", classify(err))
	}
	return []byte(s), nil
}

// StatePush writes body as the state. With lock, the tool takes the lock and
// gives up at once when it is held (*LockedError).
func (w *Workspace) StatePush(ctx context.Context, body []byte, lock bool) error {
	f, err := os.CreateTemp(w.opts.Dir, "driftgate-push-*.tfstate")
	if err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(body); err != nil {
		f.Close()
		return fmt.Errorf("state push: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("state push: %w", err)
	}
	if err := w.tf.StatePush(ctx, f.Name(), tfexec.Lock(lock), tfexec.LockTimeout("0s")); err != nil {
		return fmt.Errorf("state push: %w", classify(err))
	}
	return nil
}

// LockedError is a command that failed because someone else holds the state
// lock. Info is the tool's description of the holder.
type LockedError struct {
	Info string
	Err  error
}

func (e *LockedError) Error() string { return "state is locked: " + e.Info }
func (e *LockedError) Unwrap() error { return e.Err }

var lockInfoRe = regexp.MustCompile(`(?s)Lock Info:\s*(.*?)(\n\n|$)`)

// classify turns the tool's "Error acquiring the state lock" into a
// *LockedError.
func classify(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.Contains(msg, "Error acquiring the state lock") || strings.Contains(msg, "ConditionalRequestConflict") {
		info := "held by another client"
		if m := lockInfoRe.FindStringSubmatch(msg); m != nil {
			info = strings.Join(strings.Fields(m[1]), " ")
		}
		return &LockedError{Info: info, Err: err}
	}
	return err
}

// IsLocked reports whether err is a held state lock.
func IsLocked(err error) bool {
	var le *LockedError
	return errors.As(err, &le)
}

func lookPath(bin string, environ []string) (string, error) {
	if bin == "" {
		bin = "tofu"
	}
	if strings.ContainsRune(bin, os.PathSeparator) {
		return bin, nil
	}
	for _, kv := range environ {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, d := range filepath.SplitList(p) {
				c := filepath.Join(d, bin)
				if fi, err := os.Stat(c); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
					return c, nil
				}
			}
		}
	}
	return "", fmt.Errorf("tool %q not found on PATH", bin)
}

// copyConfig copies a configuration directory, leaving out what init, plan
// and apply write there (.terraform, local state, plan files); the
// dependency lock file comes along, so the same providers are used.
func copyConfig(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".terraform" && path != src {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if strings.Contains(name, ".tfstate") || strings.HasSuffix(name, ".tfplan") ||
			!d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
