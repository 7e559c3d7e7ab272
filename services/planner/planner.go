// Package planner is driftgate's planner service. It consumes
// object.changed events, maps each change to the workspaces that manage the
// object (through each workspace's state index) or could (their declared
// namespaces and kinds), coalesces changes per workspace, runs a plan
// narrowed with -target (a full plan when the scope is unknown and on each
// workspace's interval), classifies every difference into findings, keeps
// them in the findings bucket and publishes drift.detected, drift.resolved
// and plan.completed. Failures to plan are cluster.health events, never
// drift.
//
// Replicas share the work: pending changes are kept in the state bucket (so
// a change is never lost when a replica dies mid-plan), and a per-workspace
// lease in the leases bucket makes sure one replica at a time plans a
// workspace. Within a replica, planner.max_concurrent_plans bounds the tool
// runs across all workspaces, granted first come, first served (slots.go).
// The subpackages are the reusable parts: plan (the tool runner),
// stateindex (state ↔ objects), classify (plan → findings), live (does an
// object exist, who owns its fields), findings (the findings bucket), gate
// (driftgate gate) and tfkube (resource types ↔ Kubernetes kinds).
package planner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/plan"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/source"
)

// Defaults of the planner section of the config.
const (
	DefaultLeaseTTL  = 15 * time.Second
	DefaultStatePoll = 15 * time.Second
	// DefaultMaxTargets: a scope wider than this is planned in full (one
	// full plan is cheaper than hundreds of -target flags).
	DefaultMaxTargets = 50
)

// Option tunes the service beyond the config file (tests, benchmarks, and
// callers that know better than the defaults).
type Option func(*options)

type options struct {
	leaseTTL   time.Duration
	statePoll  time.Duration
	maxTargets int
	environ    []string
	consumer   string
}

// WithLeaseTTL sets how long a workspace lease lives without renewal: how
// soon another replica takes over the work of one that died.
func WithLeaseTTL(d time.Duration) Option { return func(o *options) { o.leaseTTL = d } }

// WithStatePoll sets how often the state index is checked for a new state
// version between plans.
func WithStatePoll(d time.Duration) Option { return func(o *options) { o.statePoll = d } }

// WithMaxTargets sets the widest targeted plan (see DefaultMaxTargets).
func WithMaxTargets(n int) Option { return func(o *options) { o.maxTargets = n } }

// WithEnviron sets the base environment of tofu/terraform (default:
// Deps.Environ, which main fills from the process's).
func WithEnviron(env []string) Option { return func(o *options) { o.environ = env } }

// WithConsumer names the durable consumer (default "planner").
func WithConsumer(name string) Option { return func(o *options) { o.consumer = name } }

// Service is a running planner.
type Service struct {
	cfg   *config.File
	d     service.Deps
	o     options
	log   *slog.Logger
	pub   *events.Publisher
	store findings.Store
	inv   live.Inventory

	debounce, maxWait, churnWindow time.Duration
	churnFlips                     int

	workspaces []*workspace
	byName     map[string]*workspace
	repos      *source.Repos // fetchers of the workspaces whose source is Git
	slots      *planSlots    // planner.max_concurrent_plans

	mu       sync.Mutex // guards the pending views of all workspaces
	synced   bool       // the KV watch delivered its initial values
	syncedCh chan struct{}
}

// New builds the planner from the config. It returns a nil *Service when
// the config has no workspaces: there is nothing to do.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Service, error) {
	if len(cfg.Workspaces) == 0 {
		return nil, nil
	}
	if d.JS == nil || d.Buckets == nil {
		return nil, errors.New("planner: JetStream and the KV buckets are required")
	}
	o := options{leaseTTL: DefaultLeaseTTL, statePoll: DefaultStatePoll, maxTargets: DefaultMaxTargets, consumer: "planner", environ: d.Environ}
	for _, opt := range opts {
		opt(&o)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Instance == "" {
		d.Instance = service.Instance()
	}
	if d.DataDir == "" {
		d.DataDir = ".data"
	}
	p := cfg.Planner
	s := &Service{
		cfg: cfg, d: d, o: o, log: d.Log,
		pub:         events.NewPublisher(d.JS, d.Source("planner")),
		store:       findings.Store{KV: d.Buckets.Findings},
		inv:         live.Inventory{KV: d.Buckets.Inventory},
		debounce:    p.Debounce.Duration,
		maxWait:     p.MaxWait.Duration,
		churnWindow: p.ChurnWindow.Duration,
		churnFlips:  p.ChurnFlips,
		byName:      map[string]*workspace{},
		syncedCh:    make(chan struct{}),
	}
	slots := p.MaxConcurrentPlans
	if slots <= 0 {
		slots = config.DefaultMaxConcurrentPlans()
	}
	s.slots = newPlanSlots(slots)
	dataDir := filepath.Join(d.DataDir, "planner")
	s.repos = source.NewRepos(filepath.Join(dataDir, "sources"), d.Getenv, d.Log)
	var names []string
	for i := range cfg.Workspaces {
		wc := cfg.Workspaces[i]
		cluster := wc.Cluster
		if cluster == "" && len(cfg.Clusters) == 1 {
			cluster = cfg.Clusters[0].Name
		}
		env := map[string]string{}
		for k, v := range wc.Env {
			env[k] = v
		}
		for k, from := range wc.EnvFrom {
			env[k] = d.Env(from)
		}
		dir := ""
		if wc.Dir != "" {
			dir = cfg.ResolveDir(wc.Dir)
		}
		runner, err := plan.New(plan.Workspace{
			Name: wc.Name, Dir: dir, Binary: wc.Binary, BackendConfig: wc.BackendConfig,
			VarFiles: wc.VarFiles, Env: env,
		}, plan.Options{
			DataDir: dataDir, Environ: o.environ, MinFreeBytes: p.MinFreeBytes,
			Timeout: p.PlanTimeout.Duration, Log: d.Log, SkipCleanShow: true,
		})
		if err != nil {
			return nil, fmt.Errorf("planner: %w", err)
		}
		rules := classify.Workspace{Name: wc.Name, Cluster: cluster, HighRiskKinds: wc.HighRiskKinds, Ignore: wc.Ignore}
		w := &workspace{
			cfg: wc, name: wc.Name, cluster: cluster, runner: runner, rules: rules,
			classifier: classify.New(rules, s.inv),
			interval:   wc.FullPlanInterval.Duration,
			wake:       make(chan struct{}, 1),
			pending:    map[string]*pendingEntry{},
			conditions: map[string]time.Time{},
			log:        d.Log.With("workspace", wc.Name),
		}
		if g := wc.Git(); g != nil {
			f, err := s.repos.For(g)
			if err != nil {
				return nil, fmt.Errorf("planner: workspace %s: %w", wc.Name, err)
			}
			w.src = &gitSource{git: *g, fetcher: f, tracker: source.NewTracker(wc.Name, *g, f, d.Buckets.State), now: make(chan string, 1)}
		}
		s.workspaces = append(s.workspaces, w)
		s.byName[w.name] = w
		names = append(names, w.name)
	}
	if err := plan.RemoveStale(dataDir, names); err != nil {
		d.Log.Warn("remove working dirs of workspaces no longer configured", "err", err)
	}
	if d.Health != nil {
		d.Health.Register("planner")
	}
	return s, nil
}

// Run consumes changes and plans until ctx ends, then drains the consumer
// and interrupts running plans (SIGINT).
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.watchPending(gctx) })
	for _, w := range s.workspaces {
		g.Go(func() error { return s.loop(gctx, w) })
		if w.src != nil {
			g.Go(func() error { return s.follow(gctx, w) })
		}
	}
	cons, err := events.NewConsumer(s.d.JS, events.ConsumerConfig{
		Durable: s.o.consumer,
		Subjects: []string{events.TypeSubject(events.TypeObjectChanged) + ".>",
			events.TypeSubject(events.TypeClusterHealth) + ".*." + events.ComponentWatcher + ".>"},
		MaxDeliver:    10,
		AckWait:       30 * time.Second,
		MaxAckPending: 20000,
	}, s.handle, s.log)
	if err != nil {
		return fmt.Errorf("planner: %w", err)
	}
	g.Go(func() error { return cons.Run(gctx) })
	if err := s.subscribePushes(gctx, g); err != nil {
		return fmt.Errorf("planner: %w", err)
	}
	if s.d.Health != nil {
		s.d.Health.Set("planner", nil)
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Workspaces names the configured workspaces.
func (s *Service) Workspaces() []string {
	out := make([]string, 0, len(s.workspaces))
	for _, w := range s.workspaces {
		out = append(out, w.name)
	}
	return out
}
