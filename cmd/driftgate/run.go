package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/natsembed"
	"github.com/driftgate/driftgate/pkg/service"
)

func init() {
	register("run", "all services in one process; embedded JetStream without --nats-url", runRun)
}

// Environment variables read by the CLI.
const (
	envNATSURL   = "DRIFTGATE_NATS_URL"
	envNATSToken = "DRIFTGATE_NATS_TOKEN"
	// The CLI's user on an external server (deploy/nats/accounts.conf:
	// approver for approve/reject, reader for audit/findings/report).
	envNATSUser     = "DRIFTGATE_NATS_USER"
	envNATSPassword = "DRIFTGATE_NATS_PASSWORD"
)

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (required)")
	natsURL := fs.String("nats-url", "", "external NATS server; empty: embed one (or nats.url from the config)")
	dataDir := fs.String("data-dir", ".data", "directory for JetStream's files and the services' working dirs")
	listen := fs.String("listen", "127.0.0.1:4222", "where the embedded NATS server accepts clients")
	httpAddr := fs.String("http", "127.0.0.1:9090", "address for /metrics, /healthz and /readyz (empty: off)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "run")
	if *natsURL == "" {
		if err := checkListen(*listen); err != nil {
			return fail(err)
		}
		if err := checkLoopback(*listen); err != nil {
			return fail(err)
		}
	}
	p, err := service.StartProcess(service.ProcessOptions{Name: "driftgate", Service: "driftgate", Config: *cfgPath,
		DataDir: *dataDir, LogLevel: *level, Log: stderr})
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	if err := p.Cfg.CheckEnv(os.Getenv); err != nil {
		return fail(err)
	}
	url := *natsURL
	if url == "" {
		url = p.Cfg.NATS.URL
	}
	var nc *nats.Conn
	if url == "" {
		store := filepath.Join(p.DataDir, "jetstream")
		token, err := embeddedToken(p.DataDir, os.Getenv)
		if err != nil {
			return fail(err)
		}
		srv, err := natsembed.Start(natsembed.Options{Listen: *listen, StoreDir: store, Token: token})
		if err != nil {
			return fail(err)
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
			p.Log.Info("embedded NATS stopped")
		}()
		cred := credentialPath(srv.Addr().String(), os.Getenv)
		if cred != "" {
			if err := writeSecret(cred, token); err != nil {
				return fail(fmt.Errorf("leave the NATS token for the CLI: %w", err))
			}
		}
		p.Log.Info("embedded NATS with JetStream; clients need its token", "url", srv.ClientURL(), "store", store,
			"token_file", filepath.Join(p.DataDir, tokenFile), "cli_token_file", cred)
		if nc, err = nats.Connect(srv.ClientURL(), nats.InProcessServer(srv), nats.Name("driftgate-run"), nats.Token(token)); err != nil {
			return fail(fmt.Errorf("connect to embedded NATS: %w", err))
		}
	} else if nc, err = service.Connect(url, p.Cfg.NATS, os.Getenv, "driftgate-run", p.Log); err != nil {
		return fail(err)
	}
	defer service.Drain(nc)
	err = p.Run(nc, services, *httpAddr)
	p.Log.Info("services stopped; draining NATS")
	if err != nil {
		return fail(err)
	}
	return 0
}

// checkListen refuses a --listen address the server could never bind, before
// anything starts.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: not HOST:PORT: %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("--listen %q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("--listen %q: host %q is not an IP address or localhost", addr, host)
	}
	return nil
}

// parseFlags parses args; ok is false when the command must exit with code.
// A bad flag is one line naming it; -h prints the flags.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return 0, false
		}
		fmt.Fprintf(out, "%s: %v (-h lists the flags)\n", fs.Name(), err)
		return 1, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 1, false
	}
	return 0, true
}

// failer prints one line "driftgate CMD: err" and returns exit code 1.
func failer(stderr io.Writer, cmd string) func(error) int {
	return func(err error) int {
		fmt.Fprintf(stderr, "driftgate %s: %v\n", cmd, err)
		return 1
	}
}

// connectCLI connects a short-lived CLI command to a running pipeline:
// --nats-url, $DRIFTGATE_NATS_URL, then driftgate run's default listener.
func connectCLI(url string) (*nats.Conn, jetstream.JetStream, error) {
	if url == "" {
		url = os.Getenv(envNATSURL)
	}
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	opts := []nats.Option{nats.Name("driftgate-cli"), nats.MaxReconnects(0)}
	if user := os.Getenv(envNATSUser); user != "" {
		// An external server's per-service user (approver, reader).
		opts = append(opts, nats.UserInfo(user, os.Getenv(envNATSPassword)))
	} else if tok := cliToken(url, os.Getenv); tok != "" {
		opts = append(opts, nats.Token(tok))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot reach NATS at %s (is `driftgate run` running? use --nats-url): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
