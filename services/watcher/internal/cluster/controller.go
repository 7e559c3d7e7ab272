// Package cluster watches one Kubernetes cluster: informers on the watched
// resources feed a rate-limited work queue, workers turn each change into an
// object.changed event and an inventory record, a prober reports the API
// server's reachability, and a node watch reports node conditions.
//
// The informers run in terms. A term starts when this replica leads (or at
// once without leader election) and the API server is reachable; it loads
// the inventory, lists every watched resource and reconciles what it finds
// against the inventory, which reports what changed while no term ran.
// A term ends when leadership is lost or an outage is declared.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/services/watcher/internal/health"
	"github.com/driftgate/driftgate/services/watcher/internal/inventory"
	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

// Options configure the watch of one cluster. New fills the zero values
// with the defaults documented in docs/watcher.md.
type Options struct {
	Cluster        config.Cluster
	Resources      []string // kubectl names, already expanded from auto
	Namespaces     []string // empty: all
	LabelSelector  string
	IncludeStatus  bool
	Resync         time.Duration
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	ProbeFailures  int
	Workers        int
	LeaderElection bool
	LeaseNamespace string // empty: the kubeconfig context's namespace
	LeaseName      string // empty: driftgate-watcher-<cluster>
	LeaseDuration  time.Duration
	RenewDeadline  time.Duration
	RetryPeriod    time.Duration
	// StateKinds adds the kinds the workspaces' state holds, as the
	// planner records them (watch.resources: [auto]).
	StateKinds bool
	// ResolveRetry is how often resources the cluster does not serve yet
	// (a CRD not installed) are looked up again.
	ResolveRetry time.Duration
	// SyncTimeout is how long a resource may take to sync before a
	// Synced=False health event names it.
	SyncTimeout time.Duration
	Identity    string // lease holder; the CloudEvents source's instance
	// RESTConfig, when set, is used instead of loading Cluster's kubeconfig.
	RESTConfig *rest.Config
	// OnPublished, when set, is called after each object.changed event is
	// acknowledged by JetStream (benchmarks measure with it).
	OnPublished func(*events.ObjectChanged)
}

// Defaults.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
	DefaultResolveRetry  = 30 * time.Second
	DefaultSyncTimeout   = 30 * time.Second
)

// Deps are the controller's connections.
type Deps struct {
	Publisher *events.Publisher
	Inventory *inventory.Store
	State     jetstream.KeyValue // node condition state, baseline marks
	Health    *obs.Health
	Log       *slog.Logger
}

// Controller watches one cluster.
type Controller struct {
	opts     Options
	deps     Deps
	log      *slog.Logger
	selector labels.Selector
	builder  *snapshot.Builder
	leaseNS  string

	rest      *rest.Config
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
	core      corev1client.CoreV1Interface
	coord     coordinationv1.CoordinationV1Interface

	reach  reachability
	leader atomic.Value // string: the leader this replica last observed
	// termLock lets one term run at a time: a new leadership waits for the
	// previous one's term to wind down.
	termLock chan struct{}
}

// New validates opts, fills defaults and builds the clients. It does not
// contact the cluster.
func New(opts Options, deps Deps) (*Controller, error) {
	if opts.Cluster.Name == "" {
		return nil, errors.New("cluster name is empty")
	}
	if len(opts.Resources) == 0 {
		return nil, fmt.Errorf("cluster %s: no resources to watch", opts.Cluster.Name)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	// watch.workers, probe_interval and probe_failures are defaulted when
	// the config is loaded (config.File.ApplyDefaults).
	if opts.Workers <= 0 || opts.ProbeFailures <= 0 || opts.ProbeInterval <= 0 {
		return nil, fmt.Errorf("cluster %s: workers, probe_failures and probe_interval must be positive (config defaults not applied?)", opts.Cluster.Name)
	}
	def(&opts.ProbeTimeout, min(opts.ProbeInterval, 5*time.Second))
	def(&opts.LeaseDuration, DefaultLeaseDuration)
	def(&opts.RenewDeadline, DefaultRenewDeadline)
	def(&opts.RetryPeriod, DefaultRetryPeriod)
	def(&opts.ResolveRetry, DefaultResolveRetry)
	def(&opts.SyncTimeout, DefaultSyncTimeout)
	if opts.LeaseName == "" {
		opts.LeaseName = LeaseName(opts.Cluster.Name)
	}
	sel, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: watch.label_selector %q: %w", opts.Cluster.Name, opts.LabelSelector, err)
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{
		opts: opts, deps: deps, selector: sel, builder: snapshot.NewBuilder(opts.IncludeStatus),
		log: log.With("cluster", opts.Cluster.Name),
	}
	c.leader.Store("")
	c.termLock = make(chan struct{}, 1)
	c.reach.changed = make(chan struct{})
	cfg := opts.RESTConfig
	ns := opts.LeaseNamespace
	if cfg == nil {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		rules.ExplicitPath = opts.Cluster.Kubeconfig
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: opts.Cluster.Context})
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, fmt.Errorf("cluster %s: load kubeconfig: %w", opts.Cluster.Name, err)
		}
		if ns == "" {
			ns, _, _ = cc.Namespace()
		}
	}
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	c.leaseNS = ns
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "driftgate-watcher"
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	c.rest = cfg
	if c.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("cluster %s: dynamic client: %w", opts.Cluster.Name, err)
	}
	if c.discovery, err = discovery.NewDiscoveryClientForConfig(cfg); err != nil {
		return nil, fmt.Errorf("cluster %s: discovery client: %w", opts.Cluster.Name, err)
	}
	if c.core, err = corev1client.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("cluster %s: core client: %w", opts.Cluster.Name, err)
	}
	if c.coord, err = coordinationv1.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("cluster %s: coordination client: %w", opts.Cluster.Name, err)
	}
	if deps.Health != nil {
		deps.Health.Register(c.healthName())
	}
	return c, nil
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// LeaseName is the default Lease of a cluster's watchers.
func LeaseName(cluster string) string {
	n := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(cluster), "-"), "-")
	if n == "" {
		n = "default"
	}
	return strings.TrimRight(("driftgate-watcher-" + n)[:min(len("driftgate-watcher-"+n), 63)], "-")
}

func (c *Controller) healthName() string { return "watcher/" + c.opts.Cluster.Name }

func (c *Controller) setReady(err error) {
	if c.deps.Health != nil {
		c.deps.Health.Set(c.healthName(), err)
	}
}

// Run watches the cluster until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.probe(ctx)
	}()
	defer wg.Wait()
	if !c.opts.LeaderElection {
		c.lead(ctx)
		return nil
	}
	c.setReady(nil) // a standby is ready: it is waiting, as it should
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: c.opts.LeaseName, Namespace: c.leaseNS},
		Client:     c.coord,
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.opts.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   c.opts.LeaseDuration,
			RenewDeadline:   c.opts.RenewDeadline,
			RetryPeriod:     c.opts.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            c.opts.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					c.log.Info("leading", "lease", c.leaseNS+"/"+c.opts.LeaseName, "identity", c.opts.Identity)
					c.lead(lctx)
				},
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					c.leader.Store(id)
					if id != c.opts.Identity {
						c.log.Info("standing by", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("cluster %s: leader election: %w", c.opts.Cluster.Name, err)
		}
		le.Run(ctx)
		if ctx.Err() == nil {
			c.log.Warn("leadership lost; standing by")
			c.setReady(nil)
		}
	}
	return nil
}

// lead runs terms while ctx lasts: one per period of reachability.
func (c *Controller) lead(ctx context.Context) {
	select {
	case c.termLock <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-c.termLock }()
	for ctx.Err() == nil {
		if !c.reach.wait(ctx) {
			return
		}
		tctx, cancel := context.WithCancel(ctx)
		down := c.reach.downCh(tctx)
		go func() {
			select {
			case <-down:
				c.log.Warn("API server unreachable; ending the term, relisting after recovery")
				cancel()
			case <-tctx.Done():
			}
		}()
		c.setReady(errors.New("syncing"))
		newTerm(c).run(tctx)
		cancel()
		if ctx.Err() == nil {
			c.setReady(errors.New("API server unreachable"))
		}
	}
}

// mayReportOutage: only the leader declares an outage (any replica when no
// leader was ever observed), so replicas do not all report it.
func (c *Controller) mayReportOutage() bool {
	if !c.opts.LeaderElection {
		return true
	}
	l, _ := c.leader.Load().(string)
	return l == "" || l == c.opts.Identity
}

// probe checks /readyz every ProbeInterval and publishes transitions.
func (c *Controller) probe(ctx context.Context) {
	st := &health.APIServer{Cluster: c.opts.Cluster.Name, Failures: c.opts.ProbeFailures}
	t := time.NewTicker(c.opts.ProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, c.opts.ProbeTimeout)
		err := c.discovery.RESTClient().Get().AbsPath("/readyz").Do(pctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Debug("API server probe failed", "err", err)
		}
		if e := st.Observe(err, time.Now(), c.mayReportOutage()); e != nil {
			if e.Status == "True" {
				c.log.Error("API server unreachable", "since", e.Since, "err", e.Message)
			} else {
				c.log.Info("API server recovered", "outage", e.Duration)
			}
			c.publishHealth(ctx, e)
		}
		c.reach.set(st.Down())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publishHealth publishes a health event, retrying for a while: a health
// event must not be lost to a NATS hiccup.
func (c *Controller) publishHealth(ctx context.Context, e *events.ClusterHealth) {
	for attempt := 0; attempt < 10; attempt++ {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err := c.deps.Publisher.Publish(pctx, e)
		cancel()
		if err == nil {
			return
		}
		c.log.Warn("publish health event", "condition", e.Condition, "status", e.Status, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			if attempt > 2 {
				return
			}
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
	c.log.Error("health event dropped after 10 attempts", "condition", e.Condition, "status", e.Status)
}

// reachability is the prober's verdict, shared with the term loop.
type reachability struct {
	mu      sync.Mutex
	down    bool
	changed chan struct{} // closed and replaced on every change
}

func (r *reachability) set(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down == down {
		return
	}
	r.down = down
	close(r.changed)
	r.changed = make(chan struct{})
}

// wait blocks while the API server is declared down; false when ctx ended.
func (r *reachability) wait(ctx context.Context) bool {
	for {
		r.mu.Lock()
		down, ch := r.down, r.changed
		r.mu.Unlock()
		if !down {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

// downCh is closed when an outage is declared (now, if one is) before ctx
// ends.
func (r *reachability) downCh(ctx context.Context) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		for {
			r.mu.Lock()
			down, ch := r.down, r.changed
			r.mu.Unlock()
			if down {
				close(out)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
		}
	}()
	return out
}
