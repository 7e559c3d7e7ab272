package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/services/importer"
)

func init() {
	register("report", "the per-resource decision table: import, remove from config, or delete and recreate", runReport)
}

func runReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ws := fs.String("workspace", "", "workspace (required)")
	out := fs.String("o", "markdown", "output: markdown or json")
	natsURL := fs.String("nats-url", "", "NATS server of a running pipeline (default $DRIFTGATE_NATS_URL, then nats://127.0.0.1:4222)")
	cfgPath := fs.String("config", "", "plan the workspace itself instead of asking the pipeline (a dry run with import blocks: exact differences)")
	dataDir := fs.String("data-dir", "", "working copy with --config (default: a temporary directory)")
	timeout := fs.Duration("timeout", 15*time.Minute, "give up after this long")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "report")
	switch {
	case *ws == "":
		return fail(errors.New("--workspace is required"))
	case *out != "markdown" && *out != "md" && *out != "json":
		return fail(fmt.Errorf("-o %q is not markdown or json", *out))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var rep importer.Report
	var err error
	if *cfgPath != "" {
		rep, err = reportFromPlan(ctx, *cfgPath, *ws, *dataDir, stderr)
	} else {
		rep, err = reportFromPipeline(ctx, *natsURL, *ws)
	}
	if err != nil {
		return fail(err)
	}
	if *out == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteMarkdown(stdout)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

func reportFromPlan(ctx context.Context, cfgPath, ws, dataDir string, stderr io.Writer) (importer.Report, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return importer.Report{}, err
	}
	if _, err := cfg.Workspace(ws); err != nil {
		return importer.Report{}, err
	}
	return importer.ReportFromPlan(ctx, importer.BootstrapOptions{
		Config: cfg, Workspace: ws, DataDir: dataDir,
		Env: importer.Env{Environ: os.Environ(), Getenv: os.Getenv},
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}

func reportFromPipeline(ctx context.Context, url, ws string) (importer.Report, error) {
	nc, js, err := connectCLI(url)
	if err != nil {
		return importer.Report{}, err
	}
	defer nc.Close()
	return imports.ReportFromPipeline(ctx, js, ws)
}
