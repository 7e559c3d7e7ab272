package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
)

func init() {
	register("findings", "list drift findings from a running pipeline", runFindings)
}

func runFindings(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate findings", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "only findings of this workspace")
	class := fs.String("class", "", "only findings of this class: "+strings.Join(events.Classes, ", "))
	state := fs.String("state", "open", "open, resolved or all")
	out := fs.String("o", "table", "output: table or json")
	natsURL := fs.String("nats-url", "", "NATS server (default $DRIFTGATE_NATS_URL, then nats://127.0.0.1:4222)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "findings")
	if *class != "" && !slices.Contains(events.Classes, *class) {
		return fail(fmt.Errorf("--class %q is not one of %s", *class, strings.Join(events.Classes, ", ")))
	}
	if *out != "table" && *out != "json" {
		return fail(fmt.Errorf("-o %q is not table or json", *out))
	}
	filter := findings.Filter{Workspace: *ws, Class: *class}
	switch *state {
	case "open", "resolved":
		filter.State = *state
	case "all":
	default:
		return fail(fmt.Errorf("--state %q is not open, resolved or all", *state))
	}
	nc, js, err := connectCLI(*natsURL)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.KeyValue(ctx, events.BucketFindings)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fail(errors.New("no findings bucket on this server yet (has the planner run?)"))
	}
	if err != nil {
		return fail(fmt.Errorf("open findings bucket: %w", err))
	}
	list, err := findings.Store{KV: kv}.List(ctx, filter)
	if err != nil {
		return fail(err)
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return fail(err)
		}
		return 0
	}
	return writeFindingsTable(stdout, list, fail)
}

func writeFindingsTable(w io.Writer, list []events.Finding, fail func(error) int) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKSPACE\tCLASS\tRISK\tADDRESS\tOBJECT\tPATHS\tBY\tACTION\tLAST SEEN")
	for _, f := range list {
		var by []string
		for _, a := range f.Attribution {
			by = append(by, a.Manager)
		}
		action := f.RecommendedAction
		if f.ImportID != "" {
			action += " " + f.ImportID
		}
		addr := f.Address
		if addr == "" {
			addr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Workspace, f.Class, f.Risk, addr, f.Object.String(),
			dash(findings.FormatPaths(f.Paths, 3)), dash(strings.Join(by, ",")), action, f.LastSeen.Local().Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return fail(err)
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "(no findings)")
	}
	return 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
