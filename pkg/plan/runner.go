// Package plan plans one workspace the way the planner and the gate need
// it, running OpenTofu or Terraform through package tofu:
//
//   - each workspace gets its own working directory under the data dir (a
//     copy of the module, so the user's checkout is never written to), with
//     a plugin cache shared by all workspaces;
//   - init runs once, and again only when the module's files, its lock file,
//     the backend configuration or the binary change;
//   - plan always runs with -lock=false and -input=false: the planner never
//     blocks a CI apply and never applies; -target narrows it when the
//     caller knows the scope; PlanScoped runs such a plan on a state the
//     caller cut down to the targets (stateindex.Scope), in a second
//     working copy whose backend is local (scoped.go), never the real one;
//   - the plan file is read back into terraform-json — its resource drift
//     and resource changes only, not the prior state (see Result.Plan) —
//     and deleted at once (it holds sensitive values). It is decoded
//     natively (tofu.DecodePlanFile, with the provider schemas read once
//     per init) instead of with a second tool run, show -json, which starts
//     every provider to load its schema (about half a second); the first
//     plan with changes after an init runs both and compares them, and
//     show -json stays the decoder whenever they differ or the native
//     decoder cannot read a file;
//   - cancelling the context interrupts the tool with SIGINT and waits for
//     it to stop (tofu.Runner);
//   - failures come back as *tofu.Error, classified (lock, init, provider,
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
	"sync"
	"syscall"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/internal/fsx"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/tofu"
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
	// Exclude are files of Dir (relative paths) left out of the working
	// copy: driftgate adopt plans without the import blocks it writes.
	Exclude []string
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
	Changes      bool
	Duration     time.Duration // plan and show
	PlanDuration time.Duration // plan alone
	ShowDuration time.Duration // reading the plan file (show -json or the native decoder) alone
	// Native is true when the plan file was decoded without show -json.
	Native bool
	// Scoped is true when the plan ran on a state cut down to its targets
	// (PlanScoped), not on the backend's.
	Scoped          bool
	InitDuration    time.Duration // init, when it ran before this plan
	PrepareDuration time.Duration // syncing the working dir, init included
	Tool            string        // tofu or terraform
	ToolVersion     string
	// Catalog is the resource types of the workspace's providers, read
	// from their schema once per init (empty when it could not be read).
	Catalog tfkube.Catalog
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
	scopedDir string // <workDir>/scoped: the copy PlanScoped plans in (scoped.go)
	cacheDir  string
	tf        *tofu.Runner
	scoped    *tofu.Runner // in scopedDir, with no backend configuration

	mu          sync.Mutex
	tool        string
	toolVersion string
	// catalog is the providers' resource types, read once per init, and
	// schemas their schemas (nil when they could not be read).
	catalog       tfkube.Catalog
	catalogLoaded bool
	schemas       *tfjson.ProviderSchemas
	// native is how plan files are read since the last init (see
	// decodePlan); formatVersion is show -json's format version, learnt
	// from the check.
	native        nativeState
	formatVersion string
	nativeLogged  bool
}

// nativeState is whether plan files are decoded natively.
type nativeState int

const (
	nativeUnchecked nativeState = iota // the next plan with changes runs both and compares
	nativeOn                           // decoded natively; show -json only when that fails
	nativeOff                          // show -json: the check found a difference
)

// New prepares a runner; it touches no files until the first run.
func New(ws Workspace, o Options) (*Runner, error) {
	if ws.Name == "" {
		return nil, errors.New("plan: workspace name is required")
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
	if ws.Dir != "" {
		dir, err := filepath.Abs(ws.Dir)
		if err != nil {
			return nil, fmt.Errorf("plan: workspace %s: %w", ws.Name, err)
		}
		ws.Dir = dir
	}
	data, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("plan: data dir: %w", err)
	}
	r := &Runner{ws: ws, o: o, log: o.Log.With("workspace", ws.Name),
		workDir:  filepath.Join(data, "workspaces", ws.Name),
		cacheDir: filepath.Join(data, "plugin-cache")}
	r.moduleDir = filepath.Join(r.workDir, "module")
	r.scopedDir = filepath.Join(r.workDir, "scoped")
	r.tf, err = tofu.New(tofu.Options{Name: ws.Name, Dir: r.moduleDir, Binary: ws.Binary, Environ: o.Environ,
		Env: ws.Env, PluginCache: r.cacheDir, BackendConfig: ws.BackendConfig, VarFiles: ws.VarFiles,
		WaitDelay: o.WaitDelay})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	r.scoped, err = tofu.New(tofu.Options{Name: ws.Name, Dir: r.scopedDir, Binary: ws.Binary, Environ: o.Environ,
		Env: ws.Env, PluginCache: r.cacheDir, VarFiles: ws.VarFiles, WaitDelay: o.WaitDelay})
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return r, nil
}

// Name is the workspace's name.
func (r *Runner) Name() string { return r.ws.Name }

// SetDir points the runner at another copy of the module — the checkout
// of a new configuration revision; the next run syncs the working dir from
// it (and runs init only when what init reads changed). A workspace whose
// source is Git has no dir until its first checkout.
func (r *Runner) SetDir(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("plan: workspace %s: %w", r.ws.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ws.Dir = abs
	return nil
}

// ModuleDir is the tool's working directory (the copy of the module).
func (r *Runner) ModuleDir() string { return r.moduleDir }

// Env is the tool's environment. It holds secrets; never log it.
func (r *Runner) Env() map[string]string { return r.tf.Env() }

// ExecPath is the resolved tool binary.
func (r *Runner) ExecPath() string { return r.tf.ExecPath() }

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
	if r.ws.Dir == "" {
		return false, &tofu.Error{Kind: tofu.KindInit, Workspace: r.ws.Name, Op: "prepare",
			Summary: "no configuration checked out yet (its source has not been fetched)"}
	}
	if err := os.MkdirAll(r.moduleDir, 0o700); err != nil {
		return false, r.wrap(ctx, "prepare", err)
	}
	sum, err := tofu.SyncModuleExcept(r.ws.Dir, r.moduleDir, r.ws.Exclude)
	if err != nil {
		return false, r.wrap(ctx, "prepare", fmt.Errorf("copy module %s: %w", r.ws.Dir, err))
	}
	if r.toolVersion == "" {
		v, err := r.tf.Version(ctx)
		if err != nil {
			return false, err
		}
		r.tool, r.toolVersion = r.tf.Tool(), v
	}
	h := sha256.New()
	fmt.Fprintf(h, "bin %s %s\n", r.tf.ExecPath(), r.toolVersion)
	for _, kv := range config.BackendArgs(r.ws.BackendConfig) {
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
	cl := cacheLock(r.cacheDir)
	cl.Lock()
	defer cl.Unlock()
	if err := os.MkdirAll(r.cacheDir, 0o700); err != nil {
		return false, r.wrap(ctx, "init", err)
	}
	r.log.Info("init", "reason", "module, lock file, backend or binary changed")
	if err := r.tf.Init(ctx); err != nil {
		_ = os.Remove(marker)
		return false, err
	}
	if err := os.WriteFile(marker, []byte(want), 0o600); err != nil {
		return true, r.wrap(ctx, "init", err)
	}
	return true, nil
}

// loadCatalog reads the providers' schema after an init (tofu.Runner.Catalog),
// so unknown resource types are reported, not guessed. A failure only costs
// that: it is logged and the plan goes on with an empty catalog.
func (r *Runner) loadCatalog(ctx context.Context) {
	cl := cacheLock(r.cacheDir)
	cl.RLock()
	defer cl.RUnlock()
	r.schemas, r.native = nil, nativeUnchecked
	s, err := r.tf.ProvidersSchema(ctx)
	if err != nil {
		r.log.Warn("read the providers' schema", "err", err)
		return
	}
	c := tfkube.CatalogOf(s)
	r.catalog, r.catalogLoaded, r.schemas = c, true, s
	if u := c.Unmapped(); len(u) > 0 {
		r.log.Info("provider resource types that name no Kubernetes object driftgate knows", "types", u)
	}
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
	return tofu.Classify(ctx, r.ws.Name, op, err)
}

// diskGuard refuses to run below the free-space threshold.
func (r *Runner) diskGuard() error {
	if r.o.MinFreeBytes < 0 {
		return nil
	}
	dir := r.o.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &tofu.Error{Kind: tofu.KindDiskLow, Workspace: r.ws.Name, Op: "disk-guard", Summary: err.Error(), Err: err}
	}
	free, err := FreeBytes(dir)
	if err != nil {
		return nil // cannot tell: do not block planning on it
	}
	if free < r.o.MinFreeBytes {
		return &tofu.Error{Kind: tofu.KindDiskLow, Workspace: r.ws.Name, Op: "disk-guard",
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

// Plan prepares the working dir and plans, narrowed to targets (none: the
// whole workspace). The plan file is deleted once read.
func (r *Runner) Plan(ctx context.Context, targets []string) (*Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	res, err := r.startPlan(ctx, targets, false)
	if err != nil {
		return nil, err
	}
	return r.planWith(ctx, r.tf, res, targets)
}

// startPlan prepares the main working copy (and, for a scoped plan, the
// scoped one after it), loads the catalog when init ran or it is not yet
// loaded, checks the disk guard, and starts the plan's Result. r.mu is held.
func (r *Runner) startPlan(ctx context.Context, targets []string, scoped bool) (*Result, error) {
	start := time.Now()
	inited, err := r.prepare(ctx)
	if err != nil {
		return nil, err
	}
	if inited || !r.catalogLoaded {
		r.loadCatalog(ctx)
	}
	if scoped {
		sinited, err := r.prepareScoped(ctx)
		if err != nil {
			return nil, err
		}
		inited = inited || sinited
	}
	res := &Result{Targets: append([]string(nil), targets...), Tool: r.tool, ToolVersion: r.toolVersion,
		PrepareDuration: time.Since(start), Catalog: r.catalog, Scoped: scoped}
	if inited {
		res.InitDuration = res.PrepareDuration
	}
	if err := r.diskGuard(); err != nil {
		return nil, err
	}
	return res, nil
}

// planWith plans targets with tf (the main working copy's tool, or the
// scoped copy's) into a plan file it deletes once read, and fills res.
func (r *Runner) planWith(ctx context.Context, tf *tofu.Runner, res *Result, targets []string) (*Result, error) {
	plans := filepath.Join(r.workDir, "plans")
	if err := os.MkdirAll(plans, 0o700); err != nil {
		return nil, r.wrap(ctx, "plan", err)
	}
	file := filepath.Join(plans, randomName()+".tfplan")
	defer os.Remove(file)
	cl := cacheLock(r.cacheDir)
	cl.RLock()
	defer cl.RUnlock()
	pstart := time.Now()
	changes, err := tf.Plan(ctx, tofu.PlanOptions{Out: file, Targets: targets, Parallelism: r.o.Parallelism})
	if err != nil {
		return nil, err
	}
	res.PlanDuration = time.Since(pstart)
	if !changes && r.o.SkipCleanShow {
		res.Changes, res.Duration = false, res.PlanDuration
		return res, nil
	}
	p, native, err := r.decodePlan(ctx, tf, file)
	if err != nil {
		return nil, err
	}
	res.Plan, res.Changes, res.Duration, res.Native = p, changes, time.Since(pstart), native
	res.ShowDuration = res.Duration - res.PlanDuration
	return res, nil
}

// decodePlan reads the plan file: natively once a check showed the native
// decoder gives what show -json gives for this tool and these providers;
// with show -json (run by tf, in the working copy that made the plan)
// before that check, after a failed one, and whenever the native decoder
// cannot read a file (logged once).
func (r *Runner) decodePlan(ctx context.Context, tf *tofu.Runner, file string) (*tfjson.Plan, bool, error) {
	if r.schemas == nil {
		p, err := tf.ShowChanges(ctx, file)
		return p, false, err
	}
	if r.native == nativeOn {
		p, err := tofu.DecodePlanFile(file, r.schemas, r.formatVersion)
		if err == nil {
			return p, true, nil
		}
		if !r.nativeLogged {
			r.nativeLogged = true
			r.log.Info("plan file not decodable natively; reading it with show -json", "err", err)
		}
		p, err = tf.ShowChanges(ctx, file)
		return p, false, err
	}
	p, err := tf.ShowChanges(ctx, file)
	if err != nil || r.native == nativeOff {
		return p, false, err
	}
	n, nerr := tofu.DecodePlanFile(file, r.schemas, p.FormatVersion)
	if nerr == nil {
		if diff := tofu.DiffChanges(p, n); diff != "" {
			nerr = errors.New(diff)
		}
	}
	if errors.Is(nerr, tofu.ErrPlanFileUnsupported) {
		// Not a disagreement: something this plan holds that the decoder
		// does not read; the next plan checks again.
		if !r.nativeLogged {
			r.nativeLogged = true
			r.log.Info("plan file not decodable natively; reading it with show -json", "err", nerr)
		}
		return p, false, nil
	}
	if nerr != nil {
		r.native = nativeOff
		r.log.Warn("the native plan file decoder disagrees with show -json; show -json reads this workspace's plans until the next init", "err", nerr)
		return p, false, nil
	}
	r.native, r.formatVersion = nativeOn, p.FormatVersion
	r.log.Info("plan files decoded natively (checked against show -json)")
	return p, false, nil
}

// GenerateConfig plans the working copy with one more file, name, holding
// extra (import blocks whose addresses have no configuration), and
// -generate-config-out, and returns the resource blocks the tool generated.
// Neither file nor the plan file stays. When the plan fails after the tool
// generated the blocks (a generated value the provider then rejects), the
// blocks come back with the error.
func (r *Runner) GenerateConfig(ctx context.Context, name string, extra []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if _, err := r.prepare(ctx); err != nil {
		return nil, err
	}
	path := filepath.Join(r.moduleDir, name)
	out := filepath.Join(r.moduleDir, "driftgate-generated-"+randomName()+".tf")
	file := filepath.Join(r.workDir, "plans", randomName()+".tfplan")
	defer os.Remove(path)
	defer os.Remove(out)
	defer os.Remove(file)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, r.wrap(ctx, "plan", err)
	}
	if err := os.WriteFile(path, extra, 0o600); err != nil {
		return nil, r.wrap(ctx, "plan", err)
	}
	cl := cacheLock(r.cacheDir)
	cl.RLock()
	defer cl.RUnlock()
	_, perr := r.tf.Plan(ctx, tofu.PlanOptions{Out: file, Parallelism: r.o.Parallelism, GenerateConfigOut: out})
	b, err := os.ReadFile(out)
	if err != nil {
		if perr != nil {
			return nil, perr
		}
		return nil, r.wrap(ctx, "plan", fmt.Errorf("the tool generated no configuration: %w", err))
	}
	return b, perr
}

// Format lays src out as the tool's fmt does.
func (r *Runner) Format(ctx context.Context, src []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tf.Format(ctx, src)
}

// StateLocation is where the workspace's state lives, read from the
// initialized backend and the tool's environment. Call it after a run.
func (r *Runner) StateLocation() (tofu.Location, error) {
	return r.tf.StateLocation()
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
	return fsx.RemoveExcept(filepath.Join(dataDir, "workspaces"), keep, true)
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
