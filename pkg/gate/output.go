package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/live"
)

func liveCluster(cfg *rest.Config, name string) (*live.Cluster, error) {
	return live.NewCluster(cfg, name)
}

// Formats of Write.
var Formats = []string{"text", "markdown", "json"}

// Write renders the report as text, markdown (for a PR comment) or json.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case "", "text":
		return r.writeText(w)
	case "markdown", "md":
		return r.writeMarkdown(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return fmt.Errorf("output %q is not text, markdown or json", format)
}

func (r *Report) status() string {
	if r.Clean {
		switch {
		case len(r.Imports) > 0 && len(r.Allowed) > 0:
			return "CLEAN (" + r.importsPending() + " and the intended changes, nothing else)"
		case len(r.Imports) > 0:
			return "CLEAN (" + r.importsPending() + ", nothing else)"
		case len(r.Allowed) > 0:
			return "CLEAN (only the intended changes)"
		}
		return "CLEAN"
	}
	return fmt.Sprintf("DRIFT (%d finding(s) fail the gate)", r.Failures())
}

// importsPending says how many imports the plan carries out and where they
// are declared: "5 imports pending in driftgate_imports.tf".
func (r *Report) importsPending() string {
	files := map[string]bool{}
	for _, pi := range r.Imports {
		files[pi.File] = true
	}
	s := fmt.Sprintf("%d imports pending", len(r.Imports))
	if len(r.Imports) == 1 {
		s = "1 import pending"
	}
	if len(files) == 1 {
		for f := range files {
			if f != "" {
				return s + " in " + f
			}
		}
	}
	return s + " in the configuration"
}

func (r *Report) writeText(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "workspace %s: %s\n", r.Workspace, r.status())
	fmt.Fprintf(b, "plan: %s %s, state serial %d, %d resources, %.1fs\n", r.Plan.Tool, r.Plan.ToolVersion,
		r.Plan.StateSerial, r.Plan.Resources, float64(r.Plan.DurationMS)/1000)
	for _, f := range r.failingFirst() {
		mark := "✗"
		if !Failing(f) {
			mark = "·"
		}
		fmt.Fprintf(b, "  %s %-14s %-4s %s", mark, f.Class, f.Risk, target(f))
		if len(f.Paths) > 0 {
			fmt.Fprintf(b, "  %s", findings.FormatPaths(f.Paths, 4))
		}
		if by := managers(f.Attribution); by != "" {
			fmt.Fprintf(b, "  by %s", by)
		}
		if f.ImportID != "" {
			fmt.Fprintf(b, "  import id %q", f.ImportID)
		}
		fmt.Fprintf(b, "  → %s\n", f.RecommendedAction)
		if why := r.reasons[f.ID]; why != "" {
			fmt.Fprintf(b, "      %s\n", why)
		}
	}
	for _, f := range r.Allowed {
		fmt.Fprintf(b, "  ✓ allowed        %s  %s\n", f.Address, findings.FormatPaths(f.Paths, 4))
	}
	for _, pi := range r.Imports {
		mark := "✓ import pending"
		if len(pi.Blocking) > 0 {
			mark = "✗ import changes"
		}
		fmt.Fprintf(b, "  %s %s <- %s (id %q)", mark, pi.Address, pi.Object.String(), pi.ID)
		if len(pi.Settled) > 0 {
			fmt.Fprintf(b, "  (apply settles %s in the state; nothing live changes)", strings.Join(pi.Settled, ", "))
		}
		fmt.Fprintln(b)
		for _, l := range pi.Blocking {
			fmt.Fprintf(b, "      %s\n", l)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Report) writeMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	icon := "✅"
	if !r.Clean {
		icon = "❌"
	}
	fmt.Fprintf(b, "### %s driftgate gate: `%s` — %s\n\n", icon, r.Workspace, r.status())
	fmt.Fprintf(b, "Plan by %s %s against state serial %d (%d resources) in %.1fs.\n\n", r.Plan.Tool, r.Plan.ToolVersion,
		r.Plan.StateSerial, r.Plan.Resources, float64(r.Plan.DurationMS)/1000)
	if len(r.Findings) > 0 {
		b.WriteString("| | class | risk | address | object | paths | changed by | action |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|\n")
		for _, f := range r.failingFirst() {
			mark := "❌"
			if !Failing(f) {
				mark = "➖"
			}
			action := f.RecommendedAction
			if f.ImportID != "" {
				action += fmt.Sprintf(" (`%s`)", md(f.ImportID))
			}
			fmt.Fprintf(b, "| %s | %s | %s | `%s` | %s | %s | %s | %s |\n", mark, f.Class, f.Risk, md(f.Address),
				md(f.Object.String()), md(findings.FormatPaths(f.Paths, 6)), md(managers(f.Attribution)), action)
		}
		b.WriteString("\n")
	}
	if len(r.Allowed) > 0 {
		b.WriteString("Intended changes (allowed):\n\n")
		for _, f := range r.Allowed {
			fmt.Fprintf(b, "- `%s` %s\n", md(f.Address), md(findings.FormatPaths(f.Paths, 6)))
		}
		b.WriteString("\n")
	}
	if len(r.Imports) > 0 {
		b.WriteString("Pending imports (import blocks the next apply carries out):\n\n")
		for _, pi := range r.Imports {
			mark := "✅"
			if len(pi.Blocking) > 0 {
				mark = "❌"
			}
			fmt.Fprintf(b, "- %s `%s` ← %s", mark, md(pi.Address), md(pi.Object.String()))
			if len(pi.Blocking) > 0 {
				fmt.Fprintf(b, ": apply would change it live: %s", md(strings.Join(pi.Blocking, "; ")))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	if r.Clean && len(r.Findings) == 0 && len(r.Allowed) == 0 && len(r.Imports) == 0 {
		b.WriteString("State and cluster agree: the plan shows no changes.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func target(f events.Finding) string {
	if f.Address != "" {
		return f.Address
	}
	return f.Object.String()
}

func managers(as []events.Attribution) string {
	var names []string
	for _, a := range as {
		names = append(names, a.Manager)
	}
	return strings.Join(names, ",")
}

func md(s string) string {
	return strings.NewReplacer("|", `\|`, "`", "'", "\n", " ").Replace(s)
}
