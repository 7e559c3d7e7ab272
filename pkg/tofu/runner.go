package tofu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// DefaultWaitDelay is how long an interrupted tool may take to stop (and
// release the state lock) before it is killed.
const DefaultWaitDelay = 2 * time.Minute

// Options say how to run the tool in one working directory.
type Options struct {
	// Name is the workspace's name; errors carry it.
	Name string
	// Dir is the tool's working directory: an initialized (or to be
	// initialized) copy of the module. Required.
	Dir string
	// Binary is tofu, terraform or a path; empty: DefaultBinary. A name is
	// looked up on the PATH of the tool's environment.
	Binary string
	// Environ is the base environment of the tool (KEY=VALUE); the caller
	// passes its own (os.Environ() in main) or none.
	Environ []string
	// Env is added to Environ (the workspace's env and env_from).
	Env map[string]string
	// PluginCache is TF_PLUGIN_CACHE_DIR unless the environment sets one.
	PluginCache string
	// BackendConfig is passed to init as -backend-config=key=value (values
	// as config.BackendValue reads them).
	BackendConfig map[string]string
	// VarFiles are passed to plan, import and refresh: relative to Dir, or
	// absolute.
	VarFiles []string
	// WaitDelay: see DefaultWaitDelay (the default).
	WaitDelay time.Duration
	// Stderr, when set, receives the tool's stderr as it runs.
	Stderr io.Writer
}

// Runner runs the tool's commands in one working directory. Its commands
// are safe to call from one goroutine at a time.
type Runner struct {
	o        Options
	execPath string
	env      map[string]string

	mu      sync.Mutex
	tf      *tfexec.Terraform
	version string
}

// New resolves the binary and the environment; it runs nothing.
func New(o Options) (*Runner, error) {
	if o.Dir == "" {
		return nil, errors.New("tofu: working dir is required")
	}
	if o.WaitDelay == 0 {
		o.WaitDelay = DefaultWaitDelay
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("tofu: workspace %s: %w", o.Name, err)
	}
	o.Dir = dir
	env := Env(o.Environ, o.Env, o.PluginCache)
	execPath, err := LookPath(o.Binary, env["PATH"])
	if err != nil {
		return nil, fmt.Errorf("tofu: workspace %s: %w", o.Name, err)
	}
	return &Runner{o: o, execPath: execPath, env: env}, nil
}

// terraform is the terraform-exec handle of the working dir, made on first
// use (the dir must exist by then).
func (r *Runner) terraform(ctx context.Context, op string) (*tfexec.Terraform, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tf != nil {
		return r.tf, nil
	}
	tf, err := tfexec.NewTerraform(r.o.Dir, r.execPath)
	if err == nil {
		err = tf.SetEnv(r.env)
	}
	if err == nil {
		err = tf.SetWaitDelay(r.o.WaitDelay)
	}
	if err != nil {
		return nil, r.classify(ctx, op, err)
	}
	if r.o.Stderr != nil {
		tf.SetStderr(r.o.Stderr)
	}
	r.tf = tf
	return tf, nil
}

// Open copies the module in source into o.Dir (see SyncModule) and runs
// init there.
func Open(ctx context.Context, source string, o Options) (*Runner, error) {
	r, err := New(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tofu: workspace %s: %w", o.Name, err)
	}
	if _, err := SyncModule(source, r.o.Dir); err != nil {
		return nil, fmt.Errorf("tofu: workspace %s: copy module %s: %w", o.Name, source, err)
	}
	if err := r.Init(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Name is the workspace's name.
func (r *Runner) Name() string { return r.o.Name }

// Dir is the tool's working directory.
func (r *Runner) Dir() string { return r.o.Dir }

// ExecPath is the resolved binary.
func (r *Runner) ExecPath() string { return r.execPath }

// Tool is "tofu" or "terraform" (see ToolName).
func (r *Runner) Tool() string { return ToolName(r.execPath) }

// Env is the tool's environment. It holds secrets; never log it.
func (r *Runner) Env() map[string]string { return r.env }

// varFiles are the var files, absolute.
func (r *Runner) varFiles() []string {
	out := make([]string, 0, len(r.o.VarFiles))
	for _, f := range r.o.VarFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(r.o.Dir, f)
		}
		out = append(out, f)
	}
	return out
}

// classify wraps a failure of op (see Classify).
func (r *Runner) classify(ctx context.Context, op string, err error) error {
	return Classify(ctx, r.o.Name, op, err)
}

// command is the tool run with args the way terraform-exec runs it, for the
// commands it has no method for: in the working dir, with the runner's
// environment, in its own process group, interrupted with SIGINT when ctx
// ends and killed only WaitDelay later.
func (r *Runner) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.execPath, args...)
	cmd.Dir = r.o.Dir
	cmd.Env = make([]string, 0, len(r.env)+1)
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "TF_IN_AUTOMATION=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = r.o.WaitDelay
	cmd.SysProcAttr = sysProcAttr()
	return cmd
}
