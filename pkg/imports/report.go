package imports

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Decision-table actions.
const (
	ActionImport            = "import"
	ActionRemoveFromConfig  = "remove-from-config"
	ActionDeleteAndRecreate = "delete-and-recreate"
	ActionRecreate          = "recreate"
)

// ReportRow is one line of the decision table.
type ReportRow struct {
	Address string           `json:"address"`
	Class   string           `json:"class"`
	Object  events.ObjectRef `json:"object"`
	Risk    string           `json:"risk"`
	// Stateful: the object holds data (StatefulSet, volume, database).
	Stateful bool `json:"stateful"`
	// Action is import, remove-from-config, delete-and-recreate or
	// recreate.
	Action    string   `json:"action"`
	Rationale []string `json:"rationale"`
	// CreatedBy is who created the object, as far as its field managers
	// and owner hints tell.
	CreatedBy string `json:"created_by,omitempty"`
	// ConfigDiff are the fields where config and live differ, when known
	// (from a dry-run plan or a rolled-back import); nil when unknown.
	ConfigDiff []string `json:"config_diff"`
	// Request is the import request's id and status, when there is one.
	RequestID     string `json:"request_id,omitempty"`
	RequestStatus string `json:"request_status,omitempty"`
	FindingID     string `json:"finding_id"`
	ImportID      string `json:"import_id,omitempty"`
	// Order is the position in import order (1 first; 0: not imported).
	Order int `json:"order,omitempty"`
}

// Report is the per-resource decision table of a workspace.
type Report struct {
	Workspace   string      `json:"workspace"`
	GeneratedAt time.Time   `json:"generated_at"`
	Rows        []ReportRow `json:"rows"`
	// Source says where the differences come from: a dry-run plan or the
	// pipeline's findings.
	Source string `json:"source"`
}

// ReportInput is what the table is built from.
type ReportInput struct {
	Workspace string
	Findings  []events.Finding
	// Inventory holds the live objects by events.InventoryKey.
	Inventory map[string]*events.InventoryRecord
	Requests  []*Request
	// Predictions are the differences a dry-run import would leave (the
	// verification's lines, "address: field: a -> b"; empty when it would
	// verify clean) by address, when a plan with import blocks was run.
	Predictions map[string][]string
	Source      string
	Now         time.Time
}

// manyDiffs is how many differing fields make a stateless object cheaper to
// recreate from config than to import and reconcile.
const manyDiffs = 5

// immutableFields cannot change in place: a difference there means the
// object must be recreated anyway.
var immutableFields = []string{"spec.selector", "spec.clusterIP", "spec.volumeName", "spec.storageClassName",
	"spec.serviceName", "spec.volumeClaimTemplates", "spec.accessModes"}

// BuildReport decides, for each unimported and deleted finding, whether to
// import it, remove it from config, or delete and recreate it, and why.
func BuildReport(in ReportInput) Report {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	rep := Report{Workspace: in.Workspace, GeneratedAt: in.Now.UTC(), Rows: []ReportRow{}, Source: in.Source}
	byFinding := map[string]*Request{}
	for _, r := range in.Requests {
		if cur := byFinding[r.FindingID]; cur == nil || r.UpdatedAt.After(cur.UpdatedAt) {
			byFinding[r.FindingID] = r
		}
	}
	var unimported []events.Finding
	for _, f := range in.Findings {
		if f.Workspace != in.Workspace || f.State == events.StateResolved {
			continue
		}
		if f.Class != events.ClassUnimported && f.Class != events.ClassDeleted {
			continue
		}
		rec := in.Inventory[events.InventoryKey(f.Object)]
		row := ReportRow{Address: f.Address, Class: f.Class, Object: f.Object, Risk: f.Risk, FindingID: f.ID, ImportID: f.ImportID,
			Stateful: tfkube.Stateful(f.Object.Group, f.Object.Kind), CreatedBy: createdBy(rec, f)}
		req := byFinding[f.ID]
		if req != nil {
			row.RequestID, row.RequestStatus = req.ID, req.Status
		}
		if p, ok := in.Predictions[f.Address]; ok {
			row.ConfigDiff = diffFields(p)
			if row.ConfigDiff == nil {
				row.ConfigDiff = []string{}
			}
		} else if req != nil && req.Status == StatusRolledBack {
			row.ConfigDiff = diffFields(req.Diff)
		}
		if f.Class == events.ClassUnimported {
			decideUnimported(&row, rec, req)
			unimported = append(unimported, f)
		} else if f.Object.Kind == "" && f.Object.Name == "" {
			decideDeletedOutside(&row) // a resource outside the cluster
		} else {
			decideDeleted(&row, rec)
		}
		rep.Rows = append(rep.Rows, row)
	}
	findings.ImportOrder(unimported)
	pos := map[string]int{}
	n := 0
	for _, f := range unimported {
		for _, row := range rep.Rows {
			if row.FindingID == f.ID && row.Action == ActionImport {
				n++
				pos[f.ID] = n
			}
		}
	}
	for i := range rep.Rows {
		rep.Rows[i].Order = pos[rep.Rows[i].FindingID]
	}
	sort.SliceStable(rep.Rows, func(i, j int) bool {
		a, b := rep.Rows[i], rep.Rows[j]
		if (a.Order == 0) != (b.Order == 0) {
			return a.Order != 0
		}
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Address < b.Address
	})
	return rep
}

func decideUnimported(row *ReportRow, rec *events.InventoryRecord, req *Request) {
	var why []string
	if rec != nil {
		for _, or := range rec.Owners.OwnerReferences {
			if or.Controller {
				row.Action = ActionRemoveFromConfig
				row.Rationale = append(why, fmt.Sprintf("controlled by %s %s: its controller creates and updates it; Terraform must not manage it", or.Kind, or.Name))
				return
			}
		}
		if h := rec.Owners.Helm; h != nil {
			row.Action = ActionRemoveFromConfig
			row.Rationale = []string{fmt.Sprintf("managed by Helm release %s: let Helm own it, or uninstall the release before importing", h.Release)}
			return
		}
		if a := rec.Owners.ArgoCD; a != "" {
			row.Action = ActionRemoveFromConfig
			row.Rationale = []string{fmt.Sprintf("managed by Argo CD application %s: it re-syncs the object (a churn loop with Terraform); remove it from one of them", a)}
			return
		}
	}
	if row.CreatedBy != "" {
		why = append(why, "created by "+row.CreatedBy)
	}
	if row.Stateful || row.Risk == events.RiskHigh {
		why = append(why, "stateful or high-risk: it holds data or secrets, never delete and recreate it; import it first and alone")
	}
	switch {
	case row.ConfigDiff == nil:
		why = append(why, "how far config and live differ is unknown: run driftgate report --config or driftgate import --bootstrap --dry-run")
		row.Action = ActionImport
	case len(row.ConfigDiff) == 0:
		why = append(why, "config matches live (at most Terraform-only or ignored fields differ): the import verifies clean")
		row.Action = ActionImport
	default:
		why = append(why, fmt.Sprintf("config and live differ in %d field(s): %s", len(row.ConfigDiff), strings.Join(capList(row.ConfigDiff, 6), ", ")))
		immutable := false
		for _, d := range row.ConfigDiff {
			for _, p := range immutableFields {
				if tfkube.FieldUnder(d, p) {
					immutable = true
				}
			}
		}
		switch {
		case row.Stateful || row.Risk == events.RiskHigh:
			why = append(why, "align the configuration with live first (the import rolls back until it matches), then import")
			row.Action = ActionImport
		case immutable:
			why = append(why, "an immutable field differs: the object must be replaced to match the configuration")
			row.Action = ActionDeleteAndRecreate
		case len(row.ConfigDiff) > manyDiffs:
			why = append(why, "stateless and far from the configuration: recreating it from config is simpler than reconciling")
			row.Action = ActionDeleteAndRecreate
		default:
			why = append(why, "stateless and close to the configuration: align the config (or accept live into code), then import")
			row.Action = ActionImport
		}
	}
	if req != nil && req.Status == StatusRolledBack {
		why = append(why, fmt.Sprintf("the last import (%s) was rolled back at %s: %s", req.ID, req.Step, req.Reason))
	}
	row.Rationale = why
}

func decideDeleted(row *ReportRow, rec *events.InventoryRecord) {
	row.Action = ActionRecreate
	row.Rationale = []string{"in state but gone from the cluster: apply recreates it from the configuration"}
	if row.Stateful || row.Risk == events.RiskHigh {
		row.Rationale = append(row.Rationale, "stateful or high-risk: restore its data (backup, volume) before the apply recreates it empty")
	}
	if row.CreatedBy != "" {
		row.Rationale = append(row.Rationale, "last written by "+row.CreatedBy+": if the deletion was intended, remove it from the configuration instead")
	} else {
		row.Rationale = append(row.Rationale, "if the deletion was intended, remove it from the configuration instead")
	}
}

// decideDeletedOutside decides for a deleted resource that is not a
// Kubernetes object (a mixed workspace's cloud or local resource): there is
// nothing to import, apply recreates it.
func decideDeletedOutside(row *ReportRow) {
	row.Action = ActionRecreate
	row.Rationale = []string{"outside the cluster: the provider no longer finds it as state records it (deleted, or changed in a way the provider reports as gone); apply recreates it from the configuration",
		"if the deletion was intended, remove it from the configuration instead"}
}

// createdBy is findings.CreatedBy.
func createdBy(rec *events.InventoryRecord, f events.Finding) string {
	return findings.CreatedBy(rec, f)
}

// diffFields turns verification lines ("addr: field: a -> b") into fields.
func diffFields(lines []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range lines {
		parts := strings.SplitN(l, ": ", 3)
		if len(parts) < 2 {
			continue
		}
		f := parts[1]
		if strings.HasPrefix(f, "would be") || strings.HasPrefix(f, "plans ") {
			f = parts[0] + " " + f
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("+%d more", len(s)-n))
}

// WriteJSON writes the report as JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the decision table as Markdown.
func (r Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Decision table: workspace `%s`\n\n", r.Workspace)
	if len(r.Rows) == 0 {
		b.WriteString("No unimported or deleted resources.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("| # | resource | object | class | risk | action | why |\n|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		order := ""
		if row.Order > 0 {
			order = fmt.Sprint(row.Order)
		}
		risk := row.Risk
		if row.Stateful {
			risk += ", stateful"
		}
		why := strings.Join(row.Rationale, "; ")
		if row.RequestID != "" {
			why += fmt.Sprintf(" (request %s: %s)", row.RequestID, row.RequestStatus)
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s | %s | **%s** | %s |\n", order, row.Address, mdEscape(row.Object.String()), row.Class, risk,
			row.Action, mdEscape(why))
	}
	fmt.Fprintf(&b, "\nImport order: stateful objects first, then the other high-risk ones, each alone; then the rest one by one. Differences from: %s.\n", r.Source)
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
