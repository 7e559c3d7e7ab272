package console

import (
	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/console/internal/web"
)

// Service is the console: its HTTP server and the stream watch behind its
// live updates.
type Service = web.Server

// Option adjusts what New builds (a listener chosen by the caller, a clock).
type Option = web.Option

// New builds the console from cfg's console section. Login tokens, the OIDC
// client secret, the session key, the Slack signing secret and the approver
// token are read through d.Getenv from the variables the config names. It
// returns a nil *Service when console.listen is empty: nothing to serve.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Service, error) {
	return web.New(cfg, d, opts...)
}
