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
)

// workspaceCmd is what the one-shot commands on one workspace (gate,
// import) share: --config, --workspace, --timeout and --log-level, and the
// start-up from them.
type workspaceCmd struct {
	cfgPath, ws, level *string
	timeout            *time.Duration

	cfg *config.File
	wc  *config.Workspace
	log *slog.Logger
}

func workspaceFlags(fs *flag.FlagSet, wsUsage string, timeout time.Duration) *workspaceCmd {
	return &workspaceCmd{
		cfgPath: fs.String("config", "", "config file (required)"),
		ws:      fs.String("workspace", "", wsUsage),
		timeout: fs.Duration("timeout", timeout, "give up (interrupting the tool) after this long"),
		level:   fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)"),
	}
}

// required checks the flags every such command needs.
func (c *workspaceCmd) required() error {
	switch {
	case *c.cfgPath == "":
		return errors.New("--config is required")
	case *c.ws == "":
		return errors.New("--workspace is required")
	}
	return nil
}

// load reads the config and finds the workspace in it; logs go to stderr.
func (c *workspaceCmd) load(stderr io.Writer) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*c.level)); err != nil {
		return fmt.Errorf("--log-level %q is not debug, info, warn or error", *c.level)
	}
	cfg, err := config.Load(*c.cfgPath)
	if err != nil {
		return err
	}
	if c.wc, err = cfg.Workspace(*c.ws); err != nil {
		return err
	}
	c.cfg = cfg
	c.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	return nil
}

// context ends on SIGINT or SIGTERM, or after --timeout.
func (c *workspaceCmd) context() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, *c.timeout)
	return ctx, func() { cancel(); stop() }
}
