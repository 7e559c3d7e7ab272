package watcher

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/watcher/internal/cluster"
	"github.com/driftgate/driftgate/services/watcher/internal/inventory"
	"github.com/driftgate/driftgate/services/watcher/internal/resources"
)

// Option adjusts what New builds; tests and benchmarks use them.
type Option func(*cluster.Options)

// New builds the watcher for every cluster of cfg; opts apply to every
// cluster's options after they are read from cfg. It returns a nil
// *Service when no cluster is configured: there is nothing to do.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Service, error) {
	if len(cfg.Clusters) == 0 {
		return nil, nil
	}
	if d.JS == nil || d.Buckets == nil {
		return nil, errors.New("watcher: JetStream and its buckets are required")
	}
	names := resources.Names(cfg)
	w := cfg.Watch
	pub := events.NewPublisher(d.JS, d.Source("watcher"))
	inv := inventory.NewStore(d.Buckets.Inventory)
	r := &Service{}
	seen := map[string]bool{}
	for _, cl := range cfg.Clusters {
		if seen[cl.Name] {
			return nil, fmt.Errorf("watcher: cluster %q is configured twice", cl.Name)
		}
		seen[cl.Name] = true
		o := cluster.Options{
			Cluster:        cl,
			Resources:      names,
			StateKinds:     resources.IsAuto(cfg),
			Namespaces:     w.Namespaces,
			LabelSelector:  w.LabelSelector,
			IncludeStatus:  w.IncludeStatus,
			Resync:         w.Resync.Duration,
			ProbeInterval:  w.ProbeInterval.Duration,
			ProbeFailures:  w.ProbeFailures,
			Workers:        w.Workers,
			LeaderElection: w.LeaderElection,
			LeaseNamespace: w.LeaseNamespace,
			Identity:       d.Instance,
		}
		for _, opt := range opts {
			opt(&o)
		}
		c, err := cluster.New(o, cluster.Deps{
			Publisher: pub, Inventory: inv, State: d.Buckets.State, Health: d.Health, Log: d.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("watcher: %w", err)
		}
		r.clusters = append(r.clusters, c)
	}
	return r, nil
}

// Service is the watcher: one controller per cluster.
type Service struct {
	clusters []*cluster.Controller
}

// Run watches every cluster until ctx ends.
func (r *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range r.clusters {
		g.Go(func() error { return c.Run(gctx) })
	}
	return g.Wait()
}
