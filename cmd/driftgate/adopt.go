package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/adopt"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/pkg/imports"
)

func init() {
	register("adopt", "adoption as code: write import blocks (and generated config) for the live objects state lacks", runAdopt)
}

func runAdopt(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate adopt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wcmd := workspaceFlags(fs, "workspace (required)", 15*time.Minute)
	file := fs.String("file", gate.DefaultImportsFile, "the file to write, relative to the workspace's directory (or absolute)")
	genConfig := fs.Bool("generate-config", false, "also generate resource blocks for unmanaged objects in the workspace's namespaces")
	out := fs.String("o", "text", "output: text, markdown (decision table and the file as a diff, for a PR comment) or json")
	dataDir := fs.String("data-dir", "", "working copies and plugin cache (default: the user cache dir)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "adopt")
	if err := wcmd.required(); err != nil {
		return fail(err)
	}
	switch *out {
	case "text", "markdown", "md", "json":
	default:
		return fail(fmt.Errorf("-o %q is not text, markdown or json", *out))
	}
	if err := wcmd.load(stderr); err != nil {
		return fail(err)
	}
	cfg := wcmd.cfg
	kube, err := kubeConfig(cfg, wcmd.wc.Cluster)
	if err != nil {
		return fail(err)
	}
	if *dataDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		*dataDir = filepath.Join(base, "driftgate", "adopt")
	}
	ctx, cancel := wcmd.context()
	defer cancel()
	gopts := gate.Options{Config: cfg, Workspace: *wcmd.ws, DataDir: *dataDir, Environ: os.Environ(), Getenv: os.Getenv,
		Kube: kube, MinFreeBytes: cfg.Planner.MinFreeBytes, Timeout: *wcmd.timeout, Log: wcmd.log}
	res, err := adopt.Run(ctx, adopt.Options{Gate: gopts, File: *file, GenerateConfig: *genConfig})
	if err != nil {
		return fail(err)
	}
	var pending []gate.PendingImport
	if (*out == "markdown" || *out == "md") && res.Imports() > 0 && !filepath.IsAbs(res.File) {
		// How far configuration and live differ, per import: the gate's
		// plan with the file, each import judged as the importer would.
		gopts.DataDir, gopts.ImportsFile = filepath.Join(*dataDir, "with-imports"), res.File
		rep, err := gate.Run(ctx, gopts)
		if err != nil {
			return fail(fmt.Errorf("plan with %s: %w", res.File, err))
		}
		pending = rep.Imports
	}
	switch *out {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case "markdown", "md":
		err = adoptMarkdown(stdout, res, pending)
	default:
		err = adoptText(stdout, res)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func adoptText(w io.Writer, r *adopt.Result) error {
	var b strings.Builder
	switch {
	case r.Imports() == 0:
		fmt.Fprintf(&b, "workspace %s: nothing to adopt (no unimported objects)\n", r.Workspace)
	case r.Changed:
		fmt.Fprintf(&b, "workspace %s: wrote %d import block(s) to %s\n", r.Workspace, r.Imports(), r.File)
	default:
		fmt.Fprintf(&b, "workspace %s: %s already holds these %d import block(s), unchanged\n", r.Workspace, r.File, r.Imports())
	}
	for i, bl := range append(append([]adopt.Block{}, r.Blocks...), r.Generated...) {
		fmt.Fprintf(&b, "%3d. %s <- %s (id %q, risk %s", i+1, bl.Address, bl.Object, bl.ID, bl.Risk)
		if bl.Class == events.ClassUnmanaged {
			b.WriteString(", configuration generated")
		}
		b.WriteString(")\n")
		if len(bl.Sensitive) > 0 {
			fmt.Fprintf(&b, "       sensitive %s left out and ignored: the values stay live and in the state\n", strings.Join(bl.Sensitive, ", "))
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "skipped: %s\n", s)
	}
	if r.Imports() > 0 {
		fmt.Fprintf(&b, "next: plan shows %d to import; apply imports them; driftgate gate then exits 0\n", r.Imports())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// adoptMarkdown is the pull-request comment: the decision table and the
// file as a diff.
func adoptMarkdown(w io.Writer, r *adopt.Result, pending []gate.PendingImport) error {
	in := imports.ReportInput{Workspace: r.Workspace, Findings: r.Findings, Inventory: r.Inventory,
		Source: fmt.Sprintf("a plan by %s %s without %s", r.Tool, r.ToolVersion, r.File)}
	if len(pending) > 0 {
		in.Source = fmt.Sprintf("a plan by %s %s with the import blocks of %s", r.Tool, r.ToolVersion, r.File)
		in.Predictions = map[string][]string{}
		for _, pi := range pending {
			in.Predictions[pi.Address] = pi.Blocking
		}
	}
	rep := imports.BuildReport(in)
	if err := rep.WriteMarkdown(w); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### `%s`: %d import block(s)", r.File, r.Imports())
	if !r.Changed && r.Imports() > 0 {
		b.WriteString(" (unchanged)")
	}
	b.WriteString("\n\n```diff\n")
	for _, l := range lineDiff(string(r.Previous), string(r.Content)) {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// lineDiff is the whole new text with each line marked: "+" added, "-"
// removed, " " kept (a longest-common-subsequence diff; the files are small).
func lineDiff(old, cur string) []string {
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	}
	a, c := split(old), split(cur)
	n, m := len(a), len(c)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == c[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == c[j]:
			out = append(out, " "+a[i])
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+"+c[j])
			j++
		default:
			out = append(out, "-"+a[i])
			i++
		}
	}
	return out
}
