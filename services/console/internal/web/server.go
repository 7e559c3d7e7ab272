package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server is the console.
type Server struct {
	cfg      config.Console
	file     *config.File
	log      *slog.Logger
	nc       *nats.Conn
	js       jetstream.JetStream
	keys     keyring
	users    map[string]tokenUser
	token    string // the approver token decisions are signed with
	tokenEnv string
	secure   bool
	origin   string
	now      func() time.Time
	pages    map[string]*template.Template
	live     *hub
	oidc     *oidcClient
	slack    *slackApp
	listener net.Listener
	srv      *http.Server
}

// Option adjusts New.
type Option func(*Server)

// WithListener serves on l instead of listening on console.listen (tests
// pick a free port this way).
func WithListener(l net.Listener) Option { return func(s *Server) { s.listener = l } }

// WithClock replaces time.Now (session expiry, decision timestamps).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New builds the console; nil when console.listen is empty.
func New(cfg *config.File, d service.Deps, opts ...Option) (*Server, error) {
	c := cfg.Console
	if c.Listen == "" {
		return nil, nil
	}
	s := &Server{cfg: c, file: cfg, log: d.Log, nc: d.Conn, js: d.JS, now: time.Now,
		users: map[string]tokenUser{}, tokenEnv: cfg.Importer.ApproverEnv}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range opts {
		o(s)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("console.base_url: %w", err)
	}
	s.secure = u.Scheme == "https"
	s.origin = u.Scheme + "://" + u.Host
	secret := ""
	if c.SessionKeyEnv != "" {
		if secret = d.Env(c.SessionKeyEnv); secret == "" {
			return nil, fmt.Errorf("console.session_key_env: environment variable %s is empty", c.SessionKeyEnv)
		}
	}
	if s.keys, err = newKeyring(secret); err != nil {
		return nil, fmt.Errorf("console: session key: %w", err)
	}
	for i, cu := range c.Users {
		tok := d.Env(cu.TokenEnv)
		if len(tok) < 16 {
			return nil, fmt.Errorf("console.users[%d].token_env: environment variable %s must hold a login token of at least 16 characters", i, cu.TokenEnv)
		}
		s.users[cu.Name] = tokenUser{Name: cu.Name, Role: cu.Role, Token: tok}
	}
	s.token = d.Env(s.tokenEnv)
	if s.token == "" {
		s.log.Warn("no approver token: the console shows everything but cannot send decisions", "variable", s.tokenEnv)
	}
	if c.OIDC != nil {
		sec := d.Env(c.OIDC.ClientSecretEnv)
		if sec == "" {
			return nil, fmt.Errorf("console.oidc.client_secret_env: environment variable %s is empty", c.OIDC.ClientSecretEnv)
		}
		s.oidc = newOIDC(*c.OIDC, sec, c.BaseURL+"/auth/callback")
	}
	if c.Slack != nil {
		sec := d.Env(c.Slack.SigningSecretEnv)
		if sec == "" {
			return nil, fmt.Errorf("console.slack.signing_secret_env: environment variable %s is empty", c.Slack.SigningSecretEnv)
		}
		s.slack = newSlackApp(s, sec, c.Slack.Approvers)
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	s.live = newHub()
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Handler is the console's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /login/oidc", s.oidcStart)
	mux.HandleFunc("GET /auth/callback", s.oidcCallback)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("POST /slack/interactive", s.slackInteractive)
	mux.Handle("GET /{$}", s.authed(s.overview))
	mux.Handle("GET /findings", s.authed(s.findingsPage))
	mux.Handle("GET /findings/{id}", s.authed(s.findingPage))
	mux.Handle("GET /workspaces/{ws}/report", s.authed(s.reportPage))
	mux.Handle("GET /requests", s.authed(s.requestsPage))
	mux.Handle("POST /requests/{id}/decide", s.authed(s.decide))
	mux.Handle("GET /audit", s.authed(s.auditPage))
	mux.Handle("GET /events", s.authed(s.sse))
	mux.Handle("/", s.authed(func(w http.ResponseWriter, r *http.Request, p *Person) {
		s.render(w, r, http.StatusNotFound, "error", p, errorData{Title: "Not found", Message: "No page " + r.URL.Path})
	}))
	return securityHeaders(mux)
}

// authed serves h to a logged-in person; anyone else gets the login page.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *Person)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.person(r)
		if p == nil {
			if r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream" {
				s.renderLogin(w, r, http.StatusUnauthorized, "", r.URL.RequestURI())
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		h(w, r, p)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self' https:")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// Addr is where the console listens once Run has started it (tests).
func (s *Server) Addr() string {
	if s.listener == nil {
		return s.cfg.Listen
	}
	return s.listener.Addr().String()
}

// Run serves until ctx ends, watching the stream for live updates.
func (s *Server) Run(ctx context.Context) error {
	if s.listener == nil {
		l, err := net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("console: listen on %s: %w", s.cfg.Listen, err)
		}
		s.listener = l
	}
	s.log.Info("console listening", "addr", s.listener.Addr().String(), "url", s.cfg.BaseURL)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.watch(gctx) })
	g.Go(func() error {
		if err := s.srv.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("console: serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.live.close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.srv.Shutdown(sctx)
	})
	return g.Wait()
}
