package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/obs"
)

// ProcessOptions are the flags every driftgate process starts from.
type ProcessOptions struct {
	Name     string // the logger's service name: driftgate, watcher, ...
	Service  string // the telemetry service name: driftgate, driftgate-watcher, ...
	Config   string // --config
	DataDir  string // --data-dir; made absolute and created
	LogLevel string // --log-level
	Log      io.Writer
}

// Process is what a service binary and `driftgate run` share between
// reading their flags and running services: the config, an absolute data
// dir, the logger and telemetry, and a context that ends on SIGINT or
// SIGTERM.
type Process struct {
	Ctx     context.Context
	Cfg     *config.File
	DataDir string
	Log     *slog.Logger

	tel  *obs.Telemetry
	stop context.CancelFunc
}

// StartProcess checks and applies o; the errors name the flag at fault.
// Close the process when done.
func StartProcess(o ProcessOptions) (*Process, error) {
	if o.Config == "" {
		return nil, errors.New("--config is required")
	}
	lvl, err := obs.ParseLevel(o.LogLevel)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(o.Config)
	if err != nil {
		return nil, err
	}
	// Absolute: services hand paths under it to tools running in other dirs.
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	tel, err := obs.Setup(ctx, obs.TelemetryOptions{Service: o.Service, OTLPEndpoint: os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")})
	if err != nil {
		stop()
		return nil, err
	}
	return &Process{Ctx: ctx, Cfg: cfg, DataDir: dataDir, Log: obs.NewLogger(o.Log, lvl, o.Name), tel: tel, stop: stop}, nil
}

// Run prepares the stream and buckets over nc and runs regs until the
// process is signalled or one of them fails.
func (p *Process) Run(nc *nats.Conn, regs []Registration, httpAddr string) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	b, err := Prepare(p.Ctx, js, p.Cfg.NATS)
	if err != nil {
		return err
	}
	d := Deps{Conn: nc, JS: js, Buckets: b, Log: p.Log, Health: obs.NewHealth(), Instance: Instance(),
		DataDir: p.DataDir, Getenv: os.Getenv, Environ: os.Environ()}
	return RunAll(p.Ctx, p.Cfg, d, regs, httpAddr, p.tel)
}

// Close flushes telemetry and stops listening for signals.
func (p *Process) Close() {
	_ = p.tel.Shutdown(context.Background())
	p.stop()
}
