package console_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/console"
	"github.com/driftgate/driftgate/services/console/internal/web"
)

// testIdP is a minimal OpenID Connect provider over real HTTP (discovery,
// authorization endpoint, token endpoint, JWKS), standing in for the IdP
// that cannot run here. It logs in whoever the test names and can be told
// to misbehave (wrong nonce, a key outside its JWKS).
type testIdP struct {
	srv   *httptest.Server
	key   *rsa.PrivateKey
	other *rsa.PrivateKey

	mu        sync.Mutex
	email     string
	badNonce  bool
	wrongKey  bool
	codes     map[string]string // code -> nonce
	exchanged int
}

func startIdP(t *testing.T) *testIdP {
	t.Helper()
	p := &testIdP{codes: map[string]string{}}
	var err error
	if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if p.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	iss := p.srv.URL
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"issuer": iss, "authorization_endpoint": iss + "/auth", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/keys", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /auth", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "driftgate" || q.Get("response_type") != "code" || !strings.Contains(q.Get("scope"), "openid") {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		p.mu.Lock()
		p.codes[code] = q.Get("nonce")
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		p.mu.Lock()
		nonce, known := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		p.exchanged++
		email, badNonce, wrongKey := p.email, p.badNonce, p.wrongKey
		p.mu.Unlock()
		if id != "driftgate" || secret != "oidc-client-secret" || !known || r.PostFormValue("grant_type") != "authorization_code" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		if badNonce {
			nonce = "another-login"
		}
		key := p.key
		if wrongKey {
			key = p.other
		}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{"iss": iss, "sub": "sub-" + email, "aud": "driftgate", "iat": now.Unix(),
			"exp": now.Add(5 * time.Minute).Unix(), "nonce": nonce, "email": email, "email_verified": true})
		jws, err := sig.Sign(claims)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		raw, _ := jws.CompactSerialize()
		writeJSON(w, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": raw})
	})
	return p
}

func (p *testIdP) as(email string, badNonce, wrongKey bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.email, p.badNonce, p.wrongKey = email, badNonce, wrongKey
}

// TestOIDCLogin runs the authorization code flow against testIdP over real
// HTTP: state, code exchange with the client secret, the ID token verified by
// go-oidc (signature against the JWKS, issuer, audience, expiry), the nonce,
// and the role from console.approvers / console.viewers.
func TestOIDCLogin(t *testing.T) {
	idp := startIdP(t)
	e := eventstest.Start(t)
	cfg, err := config.Parse("oidc.yaml", []byte(`
console:
  listen: 127.0.0.1:0
  oidc: {issuer: "`+idp.srv.URL+`", client_id: driftgate, client_secret_env: OIDC_SECRET}
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
	// base_url is the address the browser uses; the redirect URL is made from it.
	cfg.Console.BaseURL = "http://" + l.Addr().String()
	svc, err := console.New(cfg, service.Deps{Conn: e.Conn, JS: e.JS, Buckets: e.Buckets, Log: slog.New(slog.DiscardHandler),
		Getenv: func(k string) string { return map[string]string{"OIDC_SECRET": "oidc-client-secret"}[k] }}, web.WithListener(l))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := cfg.Console.BaseURL
	waitHTTP(t, base+"/healthz")

	login := func(email string, badNonce, wrongKey bool) (int, string) {
		t.Helper()
		idp.as(email, badNonce, wrongKey)
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 20 * time.Second} // follows the redirects, as a browser does
		resp, err := c.Get(base + "/login/oidc?next=/findings")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Request.URL.Path + "\n" + string(b)
	}
	for _, c := range []struct {
		name, email        string
		badNonce, wrongKey bool
		code               int
		want               string
	}{
		{"approver", "alice@example.com", false, false, http.StatusOK, `<span class="role">approver</span>`},
		{"viewer by domain", "bob@example.com", false, false, http.StatusOK, `<span class="role">viewer</span>`},
		{"no role", "eve@elsewhere.org", false, false, http.StatusUnauthorized, "has no role in this console"},
		{"another login's nonce", "alice@example.com", true, false, http.StatusUnauthorized, "not issued for this login"},
		{"signed with a key outside the JWKS", "alice@example.com", false, true, http.StatusUnauthorized, "does not verify"},
	} {
		code, body := login(c.email, c.badNonce, c.wrongKey)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d, want %d with %q:\n%.600s", c.name, code, c.code, c.want, body)
		}
		if c.code == http.StatusOK && !strings.HasPrefix(body, "/findings\n") {
			t.Errorf("%s: landed on %s, want /findings", c.name, strings.SplitN(body, "\n", 2)[0])
		}
	}
	if idp.exchanged != 5 {
		t.Errorf("%d code exchanges, want 5", idp.exchanged)
	}
}
