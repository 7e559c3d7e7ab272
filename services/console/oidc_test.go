package console_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/console"
	"github.com/driftgate/driftgate/services/console/internal/web"
)

// TestOIDCWithoutProvider covers what can be checked of the OpenID Connect
// login without an identity provider: the login page offers it, an issuer
// that does not answer is a clear error and no session, and a callback that
// no login started is refused. The code flow itself (exchange, ID token
// verification) needs a real IdP and is not run here.
func TestOIDCWithoutProvider(t *testing.T) {
	e := eventstest.Start(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + dead.Addr().String()
	dead.Close() // nothing answers there
	cfg, err := config.Parse("oidc.yaml", []byte(`
console:
  listen: 127.0.0.1:0
  oidc: {issuer: "`+issuer+`", client_id: driftgate, client_secret_env: OIDC_SECRET}
  approvers: [alice@example.com]
  viewers: ["*@example.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := console.New(cfg, service.Deps{Conn: e.Conn, JS: e.JS, Buckets: e.Buckets, Log: slog.New(slog.DiscardHandler),
		Getenv: func(k string) string { return map[string]string{"OIDC_SECRET": "s"}[k] }}, web.WithListener(l))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	lb := &lab{url: "http://" + l.Addr().String()}
	waitHTTP(t, lb.url+"/healthz")
	b := lb.browser(t)

	if _, page := b.get("/login"); !strings.Contains(page, `href="/login/oidc`) || strings.Contains(page, `id="token"`) {
		t.Errorf("login page with OIDC only:\n%s", page)
	}
	code, page := b.get("/login/oidc?next=/findings")
	if code != http.StatusBadGateway || !strings.Contains(page, "cannot be reached") {
		t.Errorf("OIDC login with an unreachable issuer: %d\n%s", code, page)
	}
	if code, page := b.get("/auth/callback?state=x&code=y"); code != http.StatusUnauthorized || !strings.Contains(page, "login expired") {
		t.Errorf("a callback no login started: %d\n%s", code, page)
	}
	if code, _ := b.get("/"); code != http.StatusUnauthorized {
		t.Errorf("after failed OIDC logins: %d, want the login page", code)
	}
	for _, bad := range []string{
		"console: {listen: 127.0.0.1:0, oidc: {issuer: not-a-url, client_id: x, client_secret_env: S}, approvers: [a@b]}",
		"console: {listen: 127.0.0.1:0, oidc: {issuer: https://idp, client_id: x, client_secret_env: S}}",
		"console: {listen: 127.0.0.1:0}",
		"console: {listen: 127.0.0.1:0, users: [{name: a, role: admin, token_env: T}]}",
		"console: {users: [{name: a, role: viewer, token_env: T}]}",
	} {
		_, err := config.Parse("bad.yaml", []byte(bad))
		if err == nil || strings.Count(err.Error(), "\n") > 0 || !strings.Contains(err.Error(), "console") {
			t.Errorf("%s: %v, want a one-line error naming the field", bad, err)
		}
	}
}
