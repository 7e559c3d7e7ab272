// Package service is what every driftgate service is wired with: its
// dependencies (NATS, JetStream, KV buckets, logger, health), the connection
// to an external NATS server, and Main for a service's own binary.
package service

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/source"
)

// Deps are what a service is built from.
type Deps struct {
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Buckets *events.Buckets
	Log     *slog.Logger
	Health  *obs.Health
	// Instance names this process (host-pid); it is the CloudEvents source
	// suffix and the lease holder name.
	Instance string
	// DataDir is where the service may keep files (workspaces, caches).
	DataDir string
	// Getenv reads the environment; services use it only for the variables
	// the config names in *_env fields. Nil reads as an empty environment.
	Getenv func(string) string
	// Environ is the base environment of the tools a service runs
	// (tofu, terraform): os.Environ() in main.
	Environ []string
}

// Env reads one environment variable through Getenv; "" when Getenv is nil.
func (d Deps) Env(key string) string {
	if d.Getenv == nil {
		return ""
	}
	return d.Getenv(key)
}

// Source is the CloudEvents source for a service of this process.
func (d Deps) Source(service string) string {
	return "driftgate/" + service + "/" + d.Instance
}

// Runner is a running service: Run blocks until ctx ends and returns after it
// has drained its consumers.
type Runner interface {
	Run(ctx context.Context) error
}

// Factory builds a service from the config file. A service with nothing to do
// under this config (no workspaces for the planner, no sinks for the
// notifier) returns (nil, nil) and is not started.
type Factory func(cfg *config.File, d Deps) (Runner, error)

// FactoryOf is the Factory of a service constructor. Every service has the
// one form New(cfg, deps, ...Option) (*Service, error), returning a nil
// *Service when the config gives it nothing to do; FactoryOf turns that
// into a nil Runner (not a non-nil interface holding a nil pointer).
func FactoryOf[S interface {
	comparable
	Runner
}, O any](newService func(cfg *config.File, d Deps, opts ...O) (S, error)) Factory {
	return func(cfg *config.File, d Deps) (Runner, error) {
		s, err := newService(cfg, d)
		var none S
		if err != nil || s == none {
			return nil, err
		}
		return s, nil
	}
}

// Registration names a service and how to build it.
type Registration struct {
	Name    string
	Factory Factory
}

// Instance returns host-pid.
func Instance() string {
	h, _ := os.Hostname()
	if h == "" {
		h = "localhost"
	}
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// Connect opens the process's one NATS connection with the auth the config
// names: user/password, token, creds file, TLS. What the server reports
// asynchronously (a permissions violation: the user may not publish or
// subscribe to a subject) is logged at error level on log.
func Connect(url string, c config.NATS, getenv func(string) string, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			log.Error("NATS reported an error", attrs...)
		}),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, getenv(c.PasswordEnv)))
	}
	if c.TokenEnv != "" {
		tok := getenv(c.TokenEnv)
		if tok == "" {
			return nil, fmt.Errorf("nats.token_env: environment variable %s is empty", c.TokenEnv)
		}
		opts = append(opts, nats.Token(tok))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLS.CAFile))
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		opts = append(opts, nats.ClientCert(c.TLS.CertFile, c.TLS.KeyFile))
	}
	if c.TLS.CAFile != "" || c.TLS.CertFile != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// Prepare ensures the stream and buckets the pipeline needs.
func Prepare(ctx context.Context, js jetstream.JetStream, c config.NATS) (*events.Buckets, error) {
	_, err := events.EnsureStream(ctx, js, events.StreamConfig{
		MaxAge: c.StreamMaxAge.Duration, Duplicates: c.DuplicateWindow.Duration, Replicas: c.StreamReplicas,
	})
	if err != nil {
		return nil, err
	}
	return events.EnsureBuckets(ctx, js, c.StreamReplicas)
}

// RunAll runs the services that the config gives work to, and the HTTP
// endpoints, under one errgroup until ctx ends or one fails.
func RunAll(ctx context.Context, cfg *config.File, d Deps, regs []Registration, httpAddr string, tel *obs.Telemetry) error {
	g, gctx := errgroup.WithContext(ctx)
	started := 0
	for _, r := range regs {
		svc, err := r.Factory(cfg, Deps{
			Conn: d.Conn, JS: d.JS, Buckets: d.Buckets, Health: d.Health, Instance: d.Instance,
			DataDir: d.DataDir, Getenv: d.Getenv, Environ: d.Environ, Log: d.Log.With("service", r.Name),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", r.Name, err)
		}
		if svc == nil {
			d.Log.Info("service has nothing to do under this config; not started", "service", r.Name)
			continue
		}
		started++
		g.Go(func() error {
			if err := svc.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
			return nil
		})
	}
	d.Log.Info("services started", "count", started)
	g.Go(func() error { return obs.Serve(gctx, httpAddr, HTTPHandler(cfg, d, tel), d.Log) })
	return g.Wait()
}

// HTTPHandler serves /metrics, /healthz and /readyz, and /hooks/git when a
// workspace's Git source has a webhook secret: a verified push is announced
// on source.FetchSubject, and every planner fetches that repository at once.
func HTTPHandler(cfg *config.File, d Deps, tel *obs.Telemetry) http.Handler {
	base := obs.Handler(tel.Registry, d.Health)
	repos := source.HookReposFromConfig(cfg, d.Env)
	if len(repos) == 0 || d.Conn == nil {
		return base
	}
	mux := http.NewServeMux()
	mux.Handle(source.WebhookPath, source.NewWebhook(repos, func(_ context.Context, url string) error {
		if err := d.Conn.Publish(source.FetchSubject, []byte(url)); err != nil {
			return err
		}
		return d.Conn.Flush()
	}, d.Log.With("component", "webhook")))
	mux.Handle("/", base)
	return mux
}

// Main is the whole main of a service's own binary:
// NAME --config FILE --nats-url URL [--http ADDR] [--data-dir DIR].
// It returns the process exit code.
func Main(name string, f Factory, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate-"+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (required)")
	natsURL := fs.String("nats-url", os.Getenv("DRIFTGATE_NATS_URL"), "NATS server URL (default: nats.url from the config, $DRIFTGATE_NATS_URL)")
	httpAddr := fs.String("http", "127.0.0.1:0", "address for /metrics, /healthz and /readyz (empty: off)")
	dataDir := fs.String("data-dir", ".data", "directory for the service's files")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "driftgate %s: %v\n", name, err)
		return 1
	}
	p, err := StartProcess(ProcessOptions{Name: name, Service: "driftgate-" + name, Config: *cfgPath,
		DataDir: *dataDir, LogLevel: *level, Log: os.Stderr})
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	url := *natsURL
	if url == "" {
		url = p.Cfg.NATS.URL
	}
	if url == "" {
		return fail(errors.New("--nats-url is required (or nats.url in the config); `driftgate run` embeds a server instead"))
	}
	nc, err := Connect(url, p.Cfg.NATS, os.Getenv, "driftgate-"+name, p.Log)
	if err != nil {
		return fail(err)
	}
	defer drain(nc)
	if err := p.Run(nc, []Registration{{Name: name, Factory: f}}, *httpAddr); err != nil {
		return fail(err)
	}
	return 0
}

// drain flushes and closes the connection, waiting up to 10 seconds.
func drain(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		nc.Close()
	}
}

// Drain is drain for callers outside the package (driftgate run).
func Drain(nc *nats.Conn) { drain(nc) }
