// Package plan runs OpenTofu or Terraform for one workspace through
// terraform-exec, the way the planner and the importer need it:
//
//   - each workspace gets its own working directory under the data dir (a
//     copy of the module, so the user's checkout is never written to), with
//     a plugin cache shared by all workspaces;
//   - init runs once, and again only when the module's files, its lock file,
//     the backend configuration or the binary change;
//   - plan always runs with -lock=false and -input=false: the planner never
//     blocks a CI apply and never applies; -target narrows it when the
//     caller knows the scope;
//   - the plan file is read back with show -json into terraform-json —
//     its resource drift and resource changes only, not the prior state
//     (see Result.Plan) — and deleted at once (it holds sensitive values);
//   - cancelling the context interrupts the tool with SIGINT and waits for
//     it to stop;
//   - failures come back as *Error, classified (lock, init, provider,
//     credentials, config, unreachable, disk-low, timeout);
//   - a disk guard refuses to start a run below a free-space threshold.
package plan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/stateindex"
)

// Workspace is one root module the runner plans.
type Workspace struct {
	Name          string
	Dir           string            // the module's directory
	Binary        string            // tofu | terraform | a path
	BackendConfig map[string]string // passed to init as -backend-config=key=value
	VarFiles      []string          // relative to Dir, or absolute
	// Env is added to the tool's environment (the config's env, and
	// env_from already resolved).
	Env map[string]string
}

// Options tune a Runner. Zero values take the defaults.
type Options struct {
	// DataDir holds workspaces/<name>/ and plugin-cache/. Required.
	DataDir string
	// Environ is the base environment of the tool (KEY=VALUE); nil means
	// the process's own, as for any child process.
	Environ []string
	// MinFreeBytes is the disk guard: below it on DataDir's disk no run
	// starts. Default 256 MiB; negative disables the guard.
	MinFreeBytes int64
	// Timeout bounds one plan (init and show included). Default 10 minutes.
	Timeout time.Duration
	// WaitDelay is how long an interrupted tool may take to stop before it
	// is killed. Default 2 minutes.
	WaitDelay time.Duration
	// Parallelism is plan's -parallelism. Default 10.
	Parallelism int
	// SkipCleanShow leaves out show -json (about a second: it loads every
	// provider's schema) when the plan has no changes (exit code 0): no
	// create, update or delete is planned, so nothing but drift the
	// configuration does not revert could be in it. Result.Plan is then nil.
	SkipCleanShow bool
	Log           *slog.Logger
}

// DefaultMinFreeBytes is the disk guard's default threshold.
const DefaultMinFreeBytes = 256 << 20

// Result is one plan.
type Result struct {
	// Plan is the JSON plan's format and tool version, resource drift and
	// resource changes; its prior state, planned values, configuration and
	// output changes are not read (the prior state holds every resource of
	// the workspace, so decoding it would grow with the workspace). Nil for
	// a plan without changes when Options.SkipCleanShow is set.
	Plan *tfjson.Plan
	// Targets the plan was narrowed to; empty for a full plan.
	Targets []string
	// Changes is true when the plan has changes (detailed exit code 2).
	Changes         bool
	Duration        time.Duration // plan and show
	PlanDuration    time.Duration // plan alone
	ShowDuration    time.Duration // show -json (and decoding it) alone
	InitDuration    time.Duration // init, when it ran before this plan
	PrepareDuration time.Duration // syncing the working dir, init included
	Tool            string        // tofu or terraform
	ToolVersion     string
}

// Full reports whether the plan covered the whole workspace.
func (r *Result) Full() bool { return len(r.Targets) == 0 }

// Runner runs the tool for one workspace. One command runs at a time.
type Runner struct {
	ws        Workspace
	o         Options
	log       *slog.Logger
	workDir   string // <data>/workspaces/<name>
	moduleDir string // <workDir>/module: the tool's working dir
	cacheDir  string
	execPath  string
	env       map[string]string

	mu          sync.Mutex
	tf          *tfexec.Terraform
	tool        string
	toolVersion string
}

// New prepares a runner; it touches no files until the first run.
func New(ws Workspace, o Options) (*Runner, error) {
	if ws.Name == "" || ws.Dir == "" {
		return nil, errors.New("plan: workspace name and dir are required")
	}
	if o.DataDir == "" {
		return nil, errors.New("plan: data dir is required")
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.WaitDelay == 0 {
		o.WaitDelay = 2 * time.Minute
	}
	if o.Parallelism == 0 {
		o.Parallelism = 10
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Environ == nil {
		o.Environ = os.Environ()
	}
	dir, err := filepath.Abs(ws.Dir)
	if err != nil {
		return nil, fmt.Errorf("plan: workspace %s: %w", ws.Name, err)
	}
	ws.Dir = dir
	data, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("plan: data dir: %w", err)
	}
	r := &Runner{ws: ws, o: o, log: o.Log.With("workspace", ws.Name),
		workDir:  filepath.Join(data, "workspaces", ws.Name),
		cacheDir: filepath.Join(data, "plugin-cache")}
	r.moduleDir = filepath.Join(r.workDir, "module")
	r.env = ToolEnv(o.Environ, ws.Env, r.cacheDir)
	bin := ws.Binary
	if bin == "" {
		bin = "tofu"
	}
	r.execPath, err = lookPath(bin, r.env["PATH"])
	if err != nil {
		return nil, fmt.Errorf("plan: workspace %s: %w", ws.Name, err)
	}
	return r, nil
}

// ToolEnv is the tool's environment: base, then the workspace's env, the
// shared plugin cache (unless set), with the variables terraform-exec
// manages itself removed (TF_LOG, TF_CLI_ARGS*, TF_WORKSPACE, ... — so
// nothing in the environment can turn locking back on).
func ToolEnv(base []string, extra map[string]string, pluginCache string) map[string]string {
	env := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			env[k] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	if env["TF_PLUGIN_CACHE_DIR"] == "" && pluginCache != "" {
		env["TF_PLUGIN_CACHE_DIR"] = pluginCache
	}
	env["CHECKPOINT_DISABLE"] = "1"
	return tfexec.CleanEnv(env)
}

// lookPath finds bin on path (the tool's PATH, not necessarily ours).
func lookPath(bin, path string) (string, error) {
	if strings.ContainsRune(bin, os.PathSeparator) {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("binary %s is not an executable file", bin)
		}
		return abs, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			continue
		}
		p := filepath.Join(d, bin)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("binary %q not found on the tool's PATH", bin)
}

// Name is the workspace's name.
func (r *Runner) Name() string { return r.ws.Name }

// ModuleDir is the tool's working directory (the copy of the module).
func (r *Runner) ModuleDir() string { return r.moduleDir }

// Env is the tool's environment. It holds secrets; never log it.
func (r *Runner) Env() map[string]string { return r.env }

// ExecPath is the resolved tool binary.
func (r *Runner) ExecPath() string { return r.execPath }

// Tool returns the tool's name (tofu or terraform) and version, known after
// the first run.
func (r *Runner) Tool() (name, version string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tool, r.toolVersion
}

// Prepare syncs the module into the working dir and runs init when needed.
// It reports whether init ran.
func (r *Runner) Prepare(ctx context.Context) (initialized bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.prepare(ctx)
}

func (r *Runner) prepare(ctx context.Context) (bool, error) {
	if err := r.diskGuard(); err != nil {
		return false, err
	}
	if err := os.MkdirAll(r.moduleDir, 0o700); err != nil {
		return false, r.wrap(ctx, "prepare", err)
	}
	sum, err := syncModule(r.ws.Dir, r.moduleDir)
	if err != nil {
		return false, r.wrap(ctx, "prepare", fmt.Errorf("copy module %s: %w", r.ws.Dir, err))
	}
	if r.tf == nil {
		tf, err := tfexec.NewTerraform(r.moduleDir, r.execPath)
		if err != nil {
			return false, r.wrap(ctx, "prepare", err)
		}
		if err := tf.SetEnv(r.env); err != nil {
			return false, r.wrap(ctx, "prepare", err)
		}
		_ = tf.SetWaitDelay(r.o.WaitDelay)
		r.tf = tf
		v, _, err := tf.Version(ctx, false)
		if err != nil {
			return false, Classify(ctx, r.ws.Name, "version", err)
		}
		r.toolVersion = v.String()
		r.tool = "terraform"
		if strings.Contains(filepath.Base(r.execPath), "tofu") {
			r.tool = "tofu"
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "bin %s %s\n", r.execPath, r.toolVersion)
	backend := config.BackendArgs(r.ws.BackendConfig)
	for _, kv := range backend {
		fmt.Fprintf(h, "backend %s\n", kv)
	}
	h.Write([]byte(sum))
	want := hex.EncodeToString(h.Sum(nil))
	marker := filepath.Join(r.workDir, "init.sum")
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		if _, err := os.Stat(filepath.Join(r.moduleDir, ".terraform")); err == nil {
			return false, nil
		}
	}
	opts := []tfexec.InitOption{tfexec.Upgrade(false), tfexec.Reconfigure(true)}
	for _, kv := range backend {
		opts = append(opts, tfexec.BackendConfig(kv))
	}
	cl := cacheLock(r.cacheDir)
	cl.Lock()
	defer cl.Unlock()
	if err := os.MkdirAll(r.cacheDir, 0o700); err != nil {
		return false, r.wrap(ctx, "init", err)
	}
	r.log.Info("init", "reason", "module, lock file, backend or binary changed")
	if err := r.tf.Init(ctx, opts...); err != nil {
		_ = os.Remove(marker)
		return false, Classify(ctx, r.ws.Name, "init", err)
	}
	if err := os.WriteFile(marker, []byte(want), 0o600); err != nil {
		return true, r.wrap(ctx, "init", err)
	}
	return true, nil
}

var cacheLocks sync.Map

// cacheLock guards a plugin cache shared by runners: init installs into it
// (and may replace a package other working dirs link to), so an init runs
// alone; plans, shows and other commands only read it and run side by side.
func cacheLock(dir string) *sync.RWMutex {
	v, _ := cacheLocks.LoadOrStore(dir, &sync.RWMutex{})
	return v.(*sync.RWMutex)
}

func (r *Runner) wrap(ctx context.Context, op string, err error) error {
	return Classify(ctx, r.ws.Name, op, err)
}

// diskGuard refuses to run below the free-space threshold.
func (r *Runner) diskGuard() error {
	if r.o.MinFreeBytes < 0 {
		return nil
	}
	dir := r.o.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &Error{Kind: KindDiskLow, Workspace: r.ws.Name, Op: "disk-guard", Summary: err.Error(), Err: err}
	}
	free, err := FreeBytes(dir)
	if err != nil {
		return nil // cannot tell: do not block planning on it
	}
	if free < r.o.MinFreeBytes {
		return &Error{Kind: KindDiskLow, Workspace: r.ws.Name, Op: "disk-guard",
			Summary: fmt.Sprintf("%d MiB free on the data dir's disk, below the %d MiB threshold", free>>20, r.o.MinFreeBytes>>20)}
	}
	return nil
}

// FreeBytes is the space available to unprivileged users on dir's disk.
func FreeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// PlanOptions are the options of every plan the planner runs: no lock, no
// input (terraform-exec always passes -input=false), refresh on, the plan
// written to planFile, narrowed to targets when there are any.
func PlanOptions(planFile string, targets, varFiles []string, parallelism int) []tfexec.PlanOption {
	opts := []tfexec.PlanOption{
		tfexec.Lock(false),
		tfexec.Refresh(true),
		tfexec.Out(planFile),
		tfexec.Parallelism(parallelism),
	}
	for _, v := range varFiles {
		opts = append(opts, tfexec.VarFile(v))
	}
	for _, t := range targets {
		opts = append(opts, tfexec.Target(t))
	}
	return opts
}

// Plan prepares the working dir and plans, narrowed to targets (none: the
// whole workspace). The plan file is deleted once read.
func (r *Runner) Plan(ctx context.Context, targets []string) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	start := time.Now()
	inited, err := r.prepare(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Targets: append([]string(nil), targets...), Tool: r.tool, ToolVersion: r.toolVersion,
		PrepareDuration: time.Since(start)}
	if inited {
		res.InitDuration = res.PrepareDuration
	}
	if err := r.diskGuard(); err != nil {
		return nil, err
	}
	plans := filepath.Join(r.workDir, "plans")
	if err := os.MkdirAll(plans, 0o700); err != nil {
		return nil, r.wrap(ctx, "plan", err)
	}
	file := filepath.Join(plans, randomName()+".tfplan")
	defer os.Remove(file)
	varFiles := make([]string, 0, len(r.ws.VarFiles))
	for _, v := range r.ws.VarFiles {
		if !filepath.IsAbs(v) {
			v = filepath.Join(r.moduleDir, v)
		}
		varFiles = append(varFiles, v)
	}
	cl := cacheLock(r.cacheDir)
	cl.RLock()
	defer cl.RUnlock()
	pstart := time.Now()
	changes, err := r.tf.Plan(ctx, PlanOptions(file, targets, varFiles, r.o.Parallelism)...)
	if err != nil {
		return nil, r.wrap(ctx, "plan", err)
	}
	res.PlanDuration = time.Since(pstart)
	if !changes && r.o.SkipCleanShow {
		res.Changes, res.Duration = false, res.PlanDuration
		return res, nil
	}
	p, err := r.showChanges(ctx, file)
	if err != nil {
		return nil, r.wrap(ctx, "show", err)
	}
	res.Plan, res.Changes, res.Duration = p, changes, time.Since(pstart)
	res.ShowDuration = res.Duration - res.PlanDuration
	return res, nil
}

// Do runs fn with the runner's prepared terraform-exec handle, one command
// at a time with the planner's own plans (for the importer's import and
// state commands). Errors fn returns are classified as op.
func (r *Runner) Do(ctx context.Context, op string, fn func(ctx context.Context, tf *tfexec.Terraform) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.prepare(ctx); err != nil {
		return err
	}
	cl := cacheLock(r.cacheDir)
	cl.RLock()
	defer cl.RUnlock()
	return r.wrap(ctx, op, fn(ctx, r.tf))
}

// Backend is the backend init recorded in the working dir.
func (r *Runner) Backend() (stateindex.Backend, error) {
	return stateindex.ReadBackend(filepath.Join(r.moduleDir, ".terraform"))
}

// StateLocation is where the workspace's state lives, read from the
// initialized backend and the tool's environment. Call it after a run.
func (r *Runner) StateLocation() (stateindex.Location, error) {
	b, err := r.Backend()
	if err != nil {
		return stateindex.Location{}, fmt.Errorf("workspace %s: %w", r.ws.Name, err)
	}
	return stateindex.LocationFromBackend(b.Type, b.Config, r.env, r.env["TF_WORKSPACE"])
}

// Remove deletes the workspace's working dir.
func (r *Runner) Remove() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return os.RemoveAll(r.workDir)
}

// RemoveStale deletes the working dirs under dataDir of workspaces not in
// keep (workspaces removed from the config).
func RemoveStale(dataDir string, keep []string) error {
	root := filepath.Join(dataDir, "workspaces")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	k := map[string]bool{}
	for _, n := range keep {
		k[n] = true
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && !k[e.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(root, e.Name())))
		}
	}
	return errors.Join(errs...)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
