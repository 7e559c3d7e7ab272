package importer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/gate"
	pkglive "github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/pkg/verify"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/services/importer/internal/live"
)

// BootstrapOptions are one bootstrap run (driftgate import --bootstrap).
type BootstrapOptions struct {
	Config    *config.File
	Workspace string
	// DataDir holds the working copy (default: a temporary directory,
	// removed afterwards).
	DataDir string
	// DryRun changes nothing: it plans once with import blocks for every
	// unimported object and says what each import would do.
	DryRun bool
	// Approve is asked before each import (the interactive gate); it
	// returns who approved. Nil approves every import as "cli" (--yes).
	Approve  func(f events.Finding) (by string, err error)
	Env      Env
	LockWait time.Duration
	Log      *slog.Logger
	// Progress, when set, is told about each import as it starts and ends.
	Progress func(it BootstrapItem)
}

// Bootstrap item statuses besides the execute outcomes.
const (
	StatusWouldImport   = "would-import"
	StatusWouldRollBack = "would-roll-back"
	StatusSkipped       = "skipped" // not reached: an earlier import failed
)

// BootstrapItem is one unimported object and what happened to it.
type BootstrapItem struct {
	Finding    events.Finding `json:"finding"`
	Status     string         `json:"status"` // succeeded, rolledback, failed, skipped, rejected, would-import, would-roll-back
	By         string         `json:"by,omitempty"`
	Step       string         `json:"step,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Diff       []string       `json:"diff,omitempty"`
	Ignored    []string       `json:"ignored,omitempty"`
	Settled    []string       `json:"settled,omitempty"`
	DurationMS int64          `json:"duration_ms,omitempty"`
	// StateVersionBefore/After are the S3 versions around the import.
	StateVersionBefore string `json:"state_version_before,omitempty"`
	StateVersionAfter  string `json:"state_version_after,omitempty"`
}

// BootstrapResult is what a bootstrap run did.
type BootstrapResult struct {
	Workspace string `json:"workspace"`
	DryRun    bool   `json:"dry_run"`
	// Items are the unimported objects in the order they are imported:
	// high-risk first, then cluster-scoped objects, then by address.
	Items []BootstrapItem `json:"items"`
	// Other are the findings of the first plan that are not unimported.
	Other []events.Finding `json:"other"`
	// Remaining are the findings of the final plan that fail the gate;
	// Clean is true when there are none (driftgate gate would exit 0).
	Remaining  []events.Finding `json:"remaining"`
	Clean      bool             `json:"clean"`
	Recovered  *BootstrapItem   `json:"recovered,omitempty"`
	DurationMS int64            `json:"duration_ms"`
}

// Failed reports whether an import did not succeed.
func (r *BootstrapResult) Failed() bool {
	for _, it := range r.Items {
		switch it.Status {
		case execute.RolledBack, execute.Failed, StatusRejected, StatusWouldRollBack:
			return true
		}
	}
	return false
}

// Bootstrap adopts every unimported object of a workspace through the gate,
// one at a time, stopping at the first failure: it plans, lists the objects
// the plan would create although they exist live, imports them (high-risk
// first, each verified, rolled back on failure), and plans again. It needs no
// pipeline: the state comes from S3, the objects from the cluster, the
// journal lives next to the state (KEY.driftgate-import.json).
func Bootstrap(ctx context.Context, o BootstrapOptions) (*BootstrapResult, error) {
	start := time.Now()
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := o.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "driftgate-bootstrap-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	ws, wcfg, err := openWorkspace(ctx, o.Config, o.Workspace, filepath.Join(dir, o.Workspace), o.Env,
		func(s *tofu.Store) execute.Journal { return execute.S3Journal{Store: s} })
	if err != nil {
		return nil, err
	}
	if o.DryRun {
		ws.Journal = &execute.MemJournal{}
	}
	eng := &execute.Engine{LockWait: o.LockWait, Who: "driftgate-import-bootstrap/" + hostname(), Log: log,
		ToolTimeout: o.Config.Importer.VerifyTimeout.Duration}
	res := &BootstrapResult{Workspace: o.Workspace, DryRun: o.DryRun, Items: []BootstrapItem{}, Other: []events.Finding{}, Remaining: []events.Finding{}}

	if !o.DryRun {
		out, err := eng.Recover(ctx, ws)
		if err != nil {
			return nil, fmt.Errorf("recover the interrupted import: %w", err)
		}
		if out != nil {
			it := itemOf(events.Finding{Workspace: o.Workspace, Address: out.Request.Address, Object: out.Request.Object,
				ImportID: out.Request.ImportID, Risk: out.Request.Risk}, *out)
			res.Recovered = &it
		}
	}
	cur, err := ws.State.Current(ctx)
	if err != nil {
		return nil, err
	}
	cl := clusterName(o.Config, wcfg)
	results, err := classifyPlan(ctx, ws, wcfg, cl)
	if err != nil {
		return nil, err
	}
	var todo []events.Finding
	for _, r := range results {
		if r.Finding.Class == events.ClassUnimported {
			todo = append(todo, r.Finding)
		} else {
			res.Other = append(res.Other, r.Finding)
		}
	}
	order(todo)
	for _, f := range todo {
		res.Items = append(res.Items, BootstrapItem{Finding: f, Status: StatusPending})
	}
	if o.DryRun {
		if err := predict(ctx, ws, res.Items); err != nil {
			return nil, err
		}
		res.Remaining = failing(res.Other)
		res.Clean = len(res.Remaining) == 0 && len(res.Items) == 0
		res.DurationMS = time.Since(start).Milliseconds()
		return res, nil
	}
	stopped := false
	for i := range res.Items {
		it := &res.Items[i]
		if stopped {
			it.Status = StatusSkipped
			continue
		}
		by := "cli"
		if o.Approve != nil {
			by, err = o.Approve(it.Finding)
			if err != nil {
				it.Status, it.Reason = StatusRejected, err.Error()
				stopped = true
				continue
			}
		}
		it.By = by
		f := it.Finding
		req := execute.Request{ID: RequestID(f.ID, f.Object.UID, cur.Serial), Workspace: o.Workspace, Address: f.Address,
			ImportID: f.ImportID, Object: f.Object, Risk: f.Risk, StateSerial: cur.Serial}
		if o.Progress != nil {
			it.Status = StatusRunning
			o.Progress(*it)
		}
		out, err := eng.Execute(ctx, ws, req)
		if err != nil {
			return res, err
		}
		*it = itemOf(f, out)
		it.By = by
		if o.Progress != nil {
			o.Progress(*it)
		}
		if out.Status != execute.Succeeded {
			stopped = true
		}
	}
	// The final gate: a full plan of the workspace as it is now.
	final, err := classifyPlan(ctx, ws, wcfg, cl)
	if err != nil {
		return res, err
	}
	var fs []events.Finding
	for _, r := range final {
		fs = append(fs, r.Finding)
	}
	res.Remaining = failing(fs)
	res.Clean = len(res.Remaining) == 0
	res.DurationMS = time.Since(start).Milliseconds()
	return res, nil
}

func itemOf(f events.Finding, out execute.Outcome) BootstrapItem {
	return BootstrapItem{Finding: f, Status: out.Status, Step: out.Step, Reason: out.Reason, Diff: out.Diff, Ignored: out.Ignored,
		Settled: out.Settled, DurationMS: out.Duration.Milliseconds(),
		StateVersionBefore: out.Before.String(), StateVersionAfter: out.After.String()}
}

func failing(fs []events.Finding) []events.Finding {
	out := []events.Finding{}
	for _, f := range fs {
		if gate.Failing(f) {
			out = append(out, f)
		}
	}
	return out
}

func hostname() string {
	h, _ := os.Hostname()
	if h == "" {
		return "localhost"
	}
	return h
}

func clusterName(f *config.File, w *config.Workspace) string {
	if w.Cluster == "" && len(f.Clusters) == 1 {
		return f.Clusters[0].Name
	}
	return w.Cluster
}

// order sorts unimported findings into import order (findings.ImportOrder).
func order(fs []events.Finding) { findings.ImportOrder(fs) }

// rank is findings.ImportRank.
func rank(o events.ObjectRef, risk string) int { return findings.ImportRank(o, risk) }

// classifyPlan plans the whole workspace (no lock) and classifies it the way
// the planner does.
func classifyPlan(ctx context.Context, ws *execute.Workspace, w *config.Workspace, cluster string) ([]classify.Result, error) {
	p, err := ws.TF.PlanJSON(ctx, tofu.PlanOptions{})
	if err != nil {
		return nil, err
	}
	c := classify.New(classify.Workspace{Name: w.Name, Cluster: cluster, HighRiskKinds: w.HighRiskKinds, Ignore: w.Ignore},
		liveRecords{r: ws.Live, cluster: cluster})
	return c.Classify(ctx, classify.Input{Plan: p, Now: time.Now()})
}

// liveRecords is a classify.Live over the cluster itself.
type liveRecords struct {
	r       *live.Reader
	cluster string
}

func (l liveRecords) Get(ctx context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	s, err := l.r.Snapshot(ctx, o)
	if err != nil {
		if strings.Contains(err.Error(), "no matches for") {
			return nil, false, nil // a kind the cluster does not serve: nothing live
		}
		return nil, false, err
	}
	if !s.Exists {
		return nil, false, nil
	}
	rec := pkglive.ObjectRecord(l.cluster, s.Resource, &unstructured.Unstructured{Object: s.Object}, time.Now())
	// The record answers for the object as it was asked for (the group and
	// version the state names), as the inventory would.
	o.UID, o.Cluster = s.UID, l.cluster
	rec.Object = o
	return rec, true, nil
}

// ReportFromPlan builds the decision table without a pipeline: a dry-run
// plan with import blocks says how far config and live differ for every
// unimported object, the cluster says who created it.
func ReportFromPlan(ctx context.Context, o BootstrapOptions) (Report, error) {
	o.DryRun = true
	res, err := Bootstrap(ctx, o)
	if err != nil {
		return Report{}, err
	}
	w, err := o.Config.Workspace(o.Workspace)
	if err != nil {
		return Report{}, err
	}
	cl := &config.Cluster{Name: w.Cluster}
	if len(o.Config.Clusters) > 0 {
		c, err := o.Config.Cluster(clusterName(o.Config, w))
		if err != nil {
			return Report{}, err
		}
		cc := *c
		if cc.Kubeconfig != "" {
			cc.Kubeconfig = o.Config.ResolveDir(cc.Kubeconfig)
		}
		cl = &cc
	}
	rc, err := restConfig(cl)
	if err != nil {
		return Report{}, err
	}
	lr, err := live.NewReader(rc)
	if err != nil {
		return Report{}, err
	}
	in := ReportInput{Workspace: o.Workspace, Inventory: map[string]*events.InventoryRecord{}, Predictions: map[string][]string{},
		Source: "a dry-run plan with import blocks"}
	lrec := liveRecords{r: lr, cluster: cl.Name}
	for _, it := range res.Items {
		in.Findings = append(in.Findings, it.Finding)
		in.Predictions[it.Finding.Address] = it.Diff
		if rec, ok, err := lrec.Get(ctx, it.Finding.Object); err == nil && ok {
			in.Inventory[events.InventoryKey(it.Finding.Object)] = rec
		}
	}
	in.Findings = append(in.Findings, res.Other...)
	return BuildReport(in), nil
}

// Object implements classify.ObjectReader.
func (l liveRecords) Object(ctx context.Context, o events.ObjectRef) (map[string]any, bool, error) {
	s, err := l.r.Snapshot(ctx, o)
	if err != nil || !s.Exists {
		return nil, false, err
	}
	return s.Object, true, nil
}

// ImportBlocksFile is the file a dry run writes into the working copy: one
// import block per object, so that one plan shows what every import would
// do without writing the state.
const ImportBlocksFile = "driftgate_import_blocks.tf"

// predict plans once with import blocks for every item and judges each
// address as the verification after a real import would.
func predict(ctx context.Context, ws *execute.Workspace, items []BootstrapItem) error {
	if len(items) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# Written by driftgate import --dry-run; removed after the plan.\n")
	for _, it := range items {
		fmt.Fprintf(&b, "import {\n  to = %s\n  id = %s\n}\n", it.Finding.Address, strconv.Quote(it.Finding.ImportID))
	}
	path := filepath.Join(ws.TF.Dir(), ImportBlocksFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	defer os.Remove(path)
	p, err := ws.TF.PlanJSON(ctx, tofu.PlanOptions{})
	if err != nil {
		return fmt.Errorf("dry run: plan with import blocks: %w", err)
	}
	for i := range items {
		it := &items[i]
		f := it.Finding
		obj := tfkube.Object{Group: f.Object.Group, Version: f.Object.Version, Kind: f.Object.Kind, Namespace: f.Object.Namespace, Name: f.Object.Name}
		var owners map[string]events.Attribution
		var liveObj map[string]any
		if s, err := ws.Live.Snapshot(ctx, f.Object); err == nil {
			owners, liveObj = s.FieldOwners, s.Object
			obj.Resource = s.Resource
		}
		r, err := verify.Import(p, f.Address, obj, ws.Ignore, owners, liveObj)
		if err != nil {
			return err
		}
		it.Ignored = r.Ignored
		for k := range r.Settle {
			it.Settled = append(it.Settled, k)
		}
		sort.Strings(it.Settled)
		if r.OK() {
			it.Status = StatusWouldImport
		} else {
			it.Status, it.Step, it.Diff = StatusWouldRollBack, execute.StepVerify, r.Blocking
			it.Reason = "the re-plan after this import would not be clean"
		}
	}
	return nil
}

// onlyAddress keeps the plan's change of address.
func onlyAddress(p *tfjson.Plan, address string) *tfjson.Plan { return verify.OnlyAddress(p, address) }
