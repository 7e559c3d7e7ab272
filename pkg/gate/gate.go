// Package gate is driftgate gate: one plan and classification of a
// workspace, run without the pipeline (it reads the state from S3 through
// the tool and the live objects from the cluster itself), so it runs as a
// plain CI step — the "zero-diff plan gate" before anyone applies.
//
// The gate fails (exit 2) on drift or an unintended change: unimported,
// changed, deleted and churn findings, and pending-config findings at
// addresses not allowed with --allow. Ignored findings never fail it.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/plan"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tofu"
)

// Exit codes of driftgate gate.
const (
	ExitClean = 0
	ExitError = 1
	ExitDrift = 2
)

// Options are one gate run.
type Options struct {
	Config    *config.File
	Workspace string
	// Allow lists the intended changes: addresses (or path.Match patterns
	// such as module.app.*) whose pending-config findings do not fail the
	// gate.
	Allow []string
	// DataDir holds the working copy and the plugin cache.
	DataDir string
	// Environ is the tool's base environment (default: the process's).
	Environ []string
	// Getenv resolves the workspace's env_from.
	Getenv func(string) string
	// Kube reaches the cluster the workspace manages.
	Kube *rest.Config
	// ImportsFile is the file of the workspace's directory driftgate adopt
	// writes import blocks to (default DefaultImportsFile): the report
	// names it for the pending imports it declares.
	ImportsFile  string
	MinFreeBytes int64
	Timeout      time.Duration
	Log          *slog.Logger
}

// Report is the gate's outcome; its JSON form is the contract of DESIGN.md:
// {"workspace", "clean", "findings", "plan": {"duration_ms", "targets"}}
// plus the allowed findings and the tool and state that were planned.
type Report struct {
	Workspace string           `json:"workspace"`
	Clean     bool             `json:"clean"`
	Findings  []events.Finding `json:"findings"`
	Allowed   []events.Finding `json:"allowed"`
	// Imports are the import blocks the plan carries out (pending imports).
	Imports []PendingImport `json:"imports"`
	Plan    PlanInfo        `json:"plan"`

	reasons map[string]string
}

// PlanInfo describes the plan the gate ran.
type PlanInfo struct {
	DurationMS  int64    `json:"duration_ms"`
	Targets     []string `json:"targets"`
	Tool        string   `json:"tool"`
	ToolVersion string   `json:"tool_version"`
	StateSerial int64    `json:"state_serial"`
	Resources   int      `json:"resources"`
}

// ExitCode is 0 for a clean report and 2 otherwise.
func (r *Report) ExitCode() int {
	if r.Clean {
		return ExitClean
	}
	return ExitDrift
}

// Failing reports whether a finding fails the gate.
func Failing(f events.Finding) bool {
	switch f.Class {
	case events.ClassIgnored, events.ClassUnmanaged:
		return false
	}
	return true
}

// Allowed reports whether address matches one of the allow patterns.
func Allowed(patterns []string, address string) bool {
	for _, p := range patterns {
		if p == address {
			return true
		}
		if ok, err := path.Match(p, address); err == nil && ok {
			return true
		}
	}
	return false
}

// Planned is one plan of a workspace, classified, and what it was made of:
// what driftgate gate reports on and driftgate adopt writes import blocks
// from.
type Planned struct {
	Workspace *config.Workspace
	Cluster   string
	// Dir is the workspace's own directory (the module the config names).
	Dir     string
	Result  *plan.Result
	Results []classify.Result
	Index   *stateindex.Index
	Live    *live.Cluster
	// Runner planned it; its working copy stays for further runs.
	Runner *plan.Runner
	// Env is the tool's environment on top of Options.Environ (the
	// workspace's env and env_from, resolved). It may hold secrets.
	Env   map[string]string
	Start time.Time
}

// PlanWorkspace plans the workspace in full (without the files of Exclude)
// and classifies the plan.
func PlanWorkspace(ctx context.Context, o Options, exclude ...string) (*Planned, error) {
	if o.Config == nil {
		return nil, errors.New("gate: no config")
	}
	wc, err := o.Config.Workspace(o.Workspace)
	if err != nil {
		return nil, err
	}
	if o.Kube == nil {
		return nil, errors.New("gate: no cluster connection")
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	env := map[string]string{}
	for k, v := range wc.Env {
		env[k] = v
	}
	for k, from := range wc.EnvFrom {
		v := getenv(from)
		if v == "" {
			return nil, fmt.Errorf("workspace %s: env_from %s: environment variable %s is empty", wc.Name, k, from)
		}
		env[k] = v
	}
	cluster := wc.Cluster
	if cluster == "" && len(o.Config.Clusters) == 1 {
		cluster = o.Config.Clusters[0].Name
	}
	dir := o.Config.ResolveDir(wc.Dir)
	if g := wc.Git(); g != nil {
		// A workspace from Git is planned at the ref's current commit,
		// fetched into the data dir.
		f, err := source.NewRepos(filepath.Join(o.DataDir, "sources"), getenv, o.Log).For(g)
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", wc.Name, err)
		}
		co, err := f.Fetch(ctx, g.Ref)
		if err != nil {
			return nil, fmt.Errorf("workspace %s: %w", wc.Name, err)
		}
		if dir, err = source.ModuleDir(co, g.Path); err != nil {
			return nil, fmt.Errorf("workspace %s: %w", wc.Name, err)
		}
	}
	runner, err := plan.New(plan.Workspace{
		Name: wc.Name, Dir: dir, Binary: wc.Binary, BackendConfig: wc.BackendConfig,
		VarFiles: wc.VarFiles, Env: env, Exclude: exclude,
	}, plan.Options{DataDir: o.DataDir, Environ: o.Environ, MinFreeBytes: o.MinFreeBytes,
		Timeout: o.Timeout, Log: o.Log})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := runner.Plan(ctx, nil)
	if err != nil {
		return nil, err
	}
	loc, err := runner.StateLocation()
	if err != nil {
		return nil, err
	}
	client, err := tofu.NewS3Client(ctx, loc)
	if err != nil {
		return nil, err
	}
	ix, _, err := stateindex.NewSource(client, loc).Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", wc.Name, err)
	}
	cl, err := liveCluster(o.Kube, cluster)
	if err != nil {
		return nil, err
	}
	c := classify.New(classify.Workspace{Name: wc.Name, Cluster: cluster, HighRiskKinds: wc.HighRiskKinds, Ignore: wc.Ignore,
		Catalog: res.Catalog}, cl)
	results, err := c.Classify(ctx, classify.Input{Plan: res.Plan, Now: time.Now()})
	if err != nil {
		return nil, err
	}
	return &Planned{Workspace: wc, Cluster: cluster, Dir: dir, Result: res, Results: results, Index: ix, Live: cl,
		Runner: runner, Env: env, Start: start}, nil
}

// Run plans the workspace in full and classifies the plan. Import blocks
// in the configuration are pending imports: each is judged as the
// importer's verification would judge it (it must change nothing live), and
// one that does not fail the gate.
func Run(ctx context.Context, o Options) (*Report, error) {
	p, err := PlanWorkspace(ctx, o)
	if err != nil {
		return nil, err
	}
	res := p.Result
	rep := &Report{Workspace: p.Workspace.Name, Findings: []events.Finding{}, Allowed: []events.Finding{}, Imports: []PendingImport{},
		reasons: map[string]string{}, Plan: PlanInfo{Targets: []string{}, Tool: res.Tool, ToolVersion: res.ToolVersion}}
	rep.Plan.StateSerial, rep.Plan.Resources = p.Index.Serial, p.Index.Resources
	imports, err := pendingImports(ctx, p, o.ImportsFile)
	if err != nil {
		return nil, err
	}
	rep.Plan.DurationMS = time.Since(p.Start).Milliseconds()
	results := p.Results[:0:0]
	for _, r := range p.Results {
		if _, ok := imports[r.Finding.Address]; !ok {
			results = append(results, r)
		}
	}
	rep.add(results, o.Allow)
	for _, pi := range imports {
		rep.Imports = append(rep.Imports, pi)
		if len(pi.Blocking) > 0 {
			rep.Clean = false
		}
	}
	slices.SortFunc(rep.Imports, func(a, b PendingImport) int { return strings.Compare(a.Address, b.Address) })
	return rep, nil
}

// add files the results as findings or allowed changes and decides Clean.
func (r *Report) add(results []classify.Result, allow []string) {
	if r.reasons == nil {
		r.reasons = map[string]string{}
	}
	r.Clean = true
	for _, res := range results {
		f := res.Finding
		r.reasons[f.ID] = res.Reason
		if f.Class == events.ClassPendingConfig && Allowed(allow, f.Address) {
			r.Allowed = append(r.Allowed, f)
			continue
		}
		r.Findings = append(r.Findings, f)
		if Failing(f) {
			r.Clean = false
		}
	}
	findings.Sort(r.Findings)
	findings.Sort(r.Allowed)
}

// NewReport builds a report from classified results (for callers that
// plan themselves, such as the importer's final gate).
func NewReport(workspace string, results []classify.Result, allow []string, info PlanInfo) *Report {
	r := &Report{Workspace: workspace, Findings: []events.Finding{}, Allowed: []events.Finding{}, Imports: []PendingImport{}, Plan: info}
	if r.Plan.Targets == nil {
		r.Plan.Targets = []string{}
	}
	r.add(results, allow)
	return r
}

// Failures counts the findings that fail the gate, and the pending imports
// whose apply would change a live object.
func (r *Report) Failures() int {
	n := 0
	for _, pi := range r.Imports {
		if len(pi.Blocking) > 0 {
			n++
		}
	}
	for _, f := range r.Findings {
		if Failing(f) {
			n++
		}
	}
	return n
}

func (r *Report) failingFirst() []events.Finding {
	out := slices.Clone(r.Findings)
	slices.SortStableFunc(out, func(a, b events.Finding) int {
		fa, fb := Failing(a), Failing(b)
		switch {
		case fa && !fb:
			return -1
		case !fa && fb:
			return 1
		}
		return 0
	})
	return out
}
