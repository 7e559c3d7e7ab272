package notifier

import (
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier/internal/dispatch"
)

// New builds the notifier from cfg's notify section. It returns (nil, nil)
// when no sink is configured: there is nothing to do. Each sink's secret is
// read through d.Getenv from the variable the config names; an empty one is
// an error that names the variable, never its value.
func New(cfg *config.File, d service.Deps) (service.Runner, error) {
	n, err := dispatch.New(cfg, d)
	if err != nil || n == nil {
		return nil, err
	}
	return n, nil
}

var _ service.Factory = New
