package notifier

import (
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier/internal/dispatch"
)

// Service is the notifier: one worker per sink.
type Service = dispatch.Notifier

// Option adjusts what New builds (lease TTL, ack wait, meter provider).
type Option = dispatch.Option

// New builds the notifier from cfg's notify section. Each sink's secret is
// read through d.Getenv from the variable the config names; an empty one is
// an error that names the variable, never its value. It returns a nil
// *Service when no sink is configured or routed to: there is nothing to do.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Service, error) {
	return dispatch.New(cfg, d, opts...)
}
