package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/importer"
)

func init() {
	register("import", "adopt every unimported object of a workspace through the gate, one at a time (--bootstrap)", runImport)
}

// Exit codes of driftgate import: 0 every object adopted and the workspace
// plan clean, 2 adopted but other drift remains, 1 an import failed or was
// rolled back (or an error).
const (
	importExitClean = 0
	importExitError = 1
	importExitDrift = 2
)

func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wcmd := workspaceFlags(fs, "workspace (required)", 30*time.Minute)
	bootstrap := fs.Bool("bootstrap", false, "adopt every unimported object (the only mode for now)")
	dryRun := fs.Bool("dry-run", false, "change nothing: plan once with import blocks and print what each import would do")
	yes := fs.Bool("yes", false, "approve every import (non-interactive, e.g. CI); without it each import is asked on the terminal")
	out := fs.String("o", "text", "output: text or json")
	dataDir := fs.String("data-dir", "", "working copy (default: a temporary directory)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "import")
	if err := wcmd.required(); err != nil {
		return fail(err)
	}
	switch {
	case !*bootstrap:
		return fail(errors.New("--bootstrap is required (single imports go through the pipeline: driftgate approve)"))
	case *out != "text" && *out != "json":
		return fail(fmt.Errorf("-o %q is not text or json", *out))
	}
	if err := wcmd.load(stderr); err != nil {
		return fail(err)
	}
	cfg := wcmd.cfg
	var approve func(events.Finding) (string, error)
	if !*yes && !*dryRun {
		if !interactive() {
			return fail(errors.New("not a terminal: pass --yes to approve the imports (or --dry-run to see them)"))
		}
		approve = prompt(os.Stdin, stderr)
	}
	ctx, cancel := wcmd.context()
	defer cancel()
	text := *out == "text"
	res, err := importer.Bootstrap(ctx, importer.BootstrapOptions{
		Config: cfg, Workspace: *wcmd.ws, DataDir: *dataDir, DryRun: *dryRun, Approve: approve,
		Env:      importer.Env{Environ: os.Environ(), Getenv: os.Getenv},
		LockWait: cfg.Importer.LockWait.Duration,
		Log:      wcmd.log,
		Progress: func(it importer.BootstrapItem) {
			if text {
				printItem(stdout, it)
			}
		},
	})
	if err != nil {
		if res != nil && text {
			printResult(stdout, res)
		}
		return fail(err)
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return fail(err)
		}
	} else {
		printResult(stdout, res)
	}
	switch {
	case res.Failed():
		return importExitError
	case !res.Clean:
		return importExitDrift
	}
	return importExitClean
}

// interactive reports whether stdin is a terminal (not /dev/null, a pipe
// or a file, as in CI).
func interactive() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// prompt asks on the terminal before each import.
func prompt(in io.Reader, w io.Writer) func(events.Finding) (string, error) {
	r := bufio.NewReader(in)
	who := defaultIdentity()
	return func(f events.Finding) (string, error) {
		fmt.Fprintf(w, "import %s as %s (id %s, risk %s)? [y/N] ", f.Object.String(), f.Address, f.ImportID, f.Risk)
		line, _ := r.ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
			return who, nil
		}
		return "", fmt.Errorf("declined by %s", who)
	}
}

func printItem(w io.Writer, it importer.BootstrapItem) {
	f := it.Finding
	switch it.Status {
	case importer.StatusRunning:
		fmt.Fprintf(w, "importing %s <- %s (id %s, risk %s, approved by %s)\n", f.Address, f.Object.String(), f.ImportID, f.Risk, it.By)
	default:
		fmt.Fprintf(w, "  %s %s in %dms", it.Status, f.Address, it.DurationMS)
		if len(it.Settled) > 0 {
			fmt.Fprintf(w, " (settled Terraform-only %s)", strings.Join(it.Settled, ", "))
		}
		if it.Reason != "" {
			fmt.Fprintf(w, " at %s: %s", it.Step, it.Reason)
		}
		fmt.Fprintln(w)
		for _, d := range it.Diff {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
}

func printResult(w io.Writer, r *importer.BootstrapResult) {
	if r.Recovered != nil {
		fmt.Fprintf(w, "recovered an interrupted import of %s: %s %s\n", r.Recovered.Finding.Address, r.Recovered.Status, r.Recovered.Reason)
	}
	if r.DryRun {
		fmt.Fprintf(w, "dry run of workspace %s: %d unimported object(s), nothing changed\n", r.Workspace, len(r.Items))
		for i, it := range r.Items {
			f := it.Finding
			fmt.Fprintf(w, "%2d. %s %s <- %s (id %s, risk %s)", i+1, it.Status, f.Address, f.Object.String(), f.ImportID, f.Risk)
			if len(it.Settled) > 0 {
				fmt.Fprintf(w, "; would settle %s", strings.Join(it.Settled, ", "))
			}
			if len(it.Ignored) > 0 {
				fmt.Fprintf(w, "; ignored %s", strings.Join(it.Ignored, ", "))
			}
			fmt.Fprintln(w)
			for _, d := range it.Diff {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
	} else {
		n := map[string]int{}
		for _, it := range r.Items {
			n[it.Status]++
		}
		fmt.Fprintf(w, "workspace %s: %d imported, %d rolled back, %d failed, %d skipped of %d in %dms\n", r.Workspace,
			n["succeeded"], n["rolledback"], n["failed"]+n["rejected"], n["skipped"], len(r.Items), r.DurationMS)
	}
	for _, f := range r.Other {
		fmt.Fprintf(w, "also: %s %s (%s)\n", f.Class, f.Address, f.RecommendedAction)
	}
	if r.Clean {
		fmt.Fprintln(w, "the workspace plan is clean")
	} else if !r.DryRun {
		fmt.Fprintf(w, "the workspace plan is not clean: %d finding(s)\n", len(r.Remaining))
		for _, f := range r.Remaining {
			fmt.Fprintf(w, "  %s %s\n", f.Class, f.Address)
		}
	}
}
