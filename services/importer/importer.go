package importer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

const (
	// LeaseTTL bounds how long a crashed importer keeps a workspace: its
	// lease expires and another replica recovers the journal.
	LeaseTTL = 2 * time.Minute
	// rescan is how often every workspace is checked for approved work
	// (besides the prompt kick after each decision).
	rescan = 15 * time.Second
)

// Service is the importer.
type Service struct {
	cfg    *config.File
	d      service.Deps
	log    *slog.Logger
	pub    *events.Publisher
	reqs   requests
	token  string
	env    Env
	engine *execute.Engine
	kick   chan string
	holder string
	mu     sync.Mutex
	opened map[string]*execute.Workspace
	// openedRev is the configuration revision each opened workspace whose
	// source is Git was opened at; repos fetches those revisions.
	openedRev map[string]string
	repos     *source.Repos
	// initFailed is whether opening each workspace failed last time.
	initFailed map[string]bool
	hooks      hooks
	workDir    string
}

// hooks let tests stop the service at precise points, or stand in for the
// parts that need tools and a cluster.
type hooks struct {
	afterStep func(step string)
	// open replaces opening a workspace (working copy, init, S3, cluster).
	open func(ctx context.Context, ws string) (*execute.Workspace, error)
	// execute replaces the import transaction.
	execute func(ctx context.Context, w *execute.Workspace, r execute.Request) (execute.Outcome, error)
	// rescan replaces how often every workspace is checked.
	rescan time.Duration
	// afterPass is called after each pass of the executor over every
	// workspace.
	afterPass func()
}

// Option adjusts what New builds; tests use them.
type Option func(*Service)

// withHooks lets a test stop the service at precise points.
func withHooks(h hooks) Option { return func(s *Service) { s.hooks = h } }

// New builds the importer from the config. Its tools run with d.Environ as
// their base environment and read the variables the config names through
// d.Getenv: the importer reads no environment itself. It returns a nil
// *Service when no workspace is configured: there is nothing to do.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Service, error) {
	if len(cfg.Workspaces) == 0 {
		return nil, nil
	}
	env := Env{Environ: d.Environ, Getenv: d.Env}
	if d.Buckets == nil || d.JS == nil || d.Conn == nil {
		return nil, errors.New("importer: NATS, JetStream and the KV buckets are required")
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	tokenEnv := cfg.Importer.ApproverEnv
	token := env.Getenv(tokenEnv)
	if token == "" {
		log.Warn("no approver token: decisions are refused and approved imports wait until one is set (policy approvals are signed with it too)", "env", tokenEnv)
	}
	s := &Service{
		cfg: cfg, d: d, log: log, pub: events.NewPublisher(d.JS, d.Source("importer")),
		reqs: requests{kv: d.Buckets.State}, token: token, env: env,
		kick: make(chan string, 64), holder: "importer/" + d.Instance, opened: map[string]*execute.Workspace{}, initFailed: map[string]bool{},
		workDir:   filepath.Join(d.DataDir, "importer"),
		openedRev: map[string]string{},
	}
	s.repos = source.NewRepos(filepath.Join(s.workDir, "sources"), d.Getenv, log)
	s.engine = &execute.Engine{
		LockWait: cfg.Importer.LockWait.Duration, Who: s.holder, Log: log,
		ToolTimeout: cfg.Importer.VerifyTimeout.Duration,
		OnLockWait:  s.reportLock, Preflight: s.inventoryPreflight,
		AfterStep: func(step string) {
			if s.hooks.afterStep != nil {
				s.hooks.afterStep(step)
			}
		},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// Run consumes findings, answers decisions and carries out approved imports
// until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	cons, err := events.NewConsumer(s.d.JS, events.ConsumerConfig{
		Durable:  "importer",
		Subjects: []string{events.TypeSubject(events.TypeDriftDetected) + ".>", events.TypeSubject(events.TypeDriftResolved) + ".>"},
		AckWait:  time.Minute,
		// A request is put back while NATS cannot take its write: ten
		// attempts, 5 s doubling (NakBackoff), outlast a cluster's restart.
		MaxDeliver: 10,
	}, s.handle, s.log)
	if err != nil {
		return err
	}
	sub, err := s.d.Conn.QueueSubscribe(DecideSubject, "importer", s.decide)
	if err != nil {
		return fmt.Errorf("importer: subscribe %s: %w", DecideSubject, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return cons.Run(gctx) })
	g.Go(func() error { return s.execLoop(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		return sub.Drain()
	})
	if s.d.Health != nil {
		s.d.Health.Set("importer", nil)
	}
	return g.Wait()
}

// poke asks the executor to look at a workspace now.
func (s *Service) poke(ws string) {
	select {
	case s.kick <- ws:
	default:
	}
}

// reportLock publishes cluster.health LockHeld for a workspace whose state
// lock someone else holds, and its clearing.
func (s *Service) reportLock(ws string, held bool, info string) {
	w, err := s.cfg.Workspace(ws)
	if err != nil {
		return
	}
	h := &events.ClusterHealth{Cluster: w.Cluster, Component: events.ComponentImporter, Condition: "LockHeld",
		Status: "False", Severity: events.SeverityInfo, WS: ws, Since: time.Now().UTC(), ObservedAt: time.Now().UTC()}
	if held {
		h.Status, h.Severity, h.Reason = "True", events.SeverityWarning, "StateLocked"
		h.Message = "the import waits for the state lock: " + info
	} else {
		h.Message = "the state lock was released; the import proceeds"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.pub.Publish(ctx, h); err != nil {
		s.log.Warn("publish lock report", "err", err)
	}
}

// inventoryPreflight checks the watcher's inventory: an object it knows
// under another uid was recreated since the finding. An object it does not
// know (a kind it does not watch) is left to the live read.
func (s *Service) inventoryPreflight(ctx context.Context, r execute.Request) error {
	var rec events.InventoryRecord
	_, ok, err := events.GetJSON(ctx, s.d.Buckets.Inventory, events.InventoryKey(r.Object), &rec)
	if err != nil {
		return err
	}
	if ok && r.Object.UID != "" && rec.Object.UID != r.Object.UID {
		return fmt.Errorf("stale request: the inventory has %s with uid %s, the request is for %s (deleted and recreated)",
			r.Object.String(), rec.Object.UID, r.Object.UID)
	}
	return nil
}

// workspace returns the opened workspace, opening it (working copy, init)
// on first use.
func (s *Service) workspace(ctx context.Context, name string) (*execute.Workspace, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hooks.open == nil {
		if wc, err := s.cfg.Workspace(name); err == nil && wc.Git() != nil {
			// Reopened whenever the workspace's revision record moved.
			return s.openFromGit(ctx, name)
		}
	}
	if w := s.opened[name]; w != nil {
		return w, nil
	}
	if s.hooks.open != nil {
		return s.hooks.open(ctx, name)
	}
	w, _, err := openWorkspace(ctx, s.cfg, name, filepath.Join(s.workDir, name), s.env,
		s.journalOf(name))
	if err != nil {
		return nil, err
	}
	s.opened[name] = w
	return w, nil
}

// publish stores an import event; failures are logged (the record in KV
// stays the source of truth for the executor).
func (s *Service) publish(ctx context.Context, d *events.Import) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := s.pub.Publish(ctx, d); err != nil {
		s.log.Error("publish import event", "verb", d.Verb(), "request", d.RequestID, "err", err)
	}
}
