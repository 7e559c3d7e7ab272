package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/driftgate/driftgate/pkg/config"
)

// oidcClient logs people in with an OpenID Connect provider (authorization
// code flow, state and nonce). The provider is discovered on the first
// login, so the console starts while the IdP is unreachable.
type oidcClient struct {
	cfg      config.ConsoleOIDC
	secret   string
	redirect string

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDC(c config.ConsoleOIDC, secret, redirect string) *oidcClient {
	return &oidcClient{cfg: c, secret: secret, redirect: redirect}
}

func (o *oidcClient) setup(ctx context.Context) (*oidc.Provider, oauth2.Config, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
		if err != nil {
			return nil, oauth2.Config{}, fmt.Errorf("OIDC discovery at %s: %w", o.cfg.Issuer, err)
		}
		o.provider = p
	}
	return o.provider, oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.secret, RedirectURL: o.redirect,
		Endpoint: o.provider.Endpoint(), Scopes: o.cfg.Scopes}, nil
}

// oidcState is what the browser carries from the login redirect to the
// callback, signed.
type oidcState struct {
	State string    `json:"s"`
	Nonce string    `json:"n"`
	Next  string    `json:"x"`
	Exp   time.Time `json:"e"`
}

func random() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	_, oc, err := s.oidc.setup(r.Context())
	if err != nil {
		s.log.Error("console: OIDC", "err", err)
		s.renderLogin(w, r, http.StatusBadGateway, "The identity provider cannot be reached: "+err.Error(), r.URL.Query().Get("next"))
		return
	}
	st := oidcState{State: random(), Nonce: random(), Next: safeNext(r.URL.Query().Get("next")), Exp: s.now().Add(10 * time.Minute)}
	v, err := s.keys.seal("oidc", st)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieOIDC, Value: v, Path: "/auth/callback", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	http.Redirect(w, r, oc.AuthCodeURL(st.State, oidc.Nonce(st.Nonce)), http.StatusFound)
}

func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	refuse := func(msg string, err error) {
		s.log.Warn("console: OIDC login refused", "reason", msg, "err", err, "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, msg, "/")
	}
	c, err := r.Cookie(cookieOIDC)
	if err != nil {
		refuse("The login expired; try again.", err)
		return
	}
	var st oidcState
	if err := s.keys.open("oidc", c.Value, &st); err != nil || !s.now().Before(st.Exp) || r.URL.Query().Get("state") != st.State {
		refuse("The login does not match this browser; try again.", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieOIDC, Value: "", Path: "/auth/callback", MaxAge: -1})
	if e := r.URL.Query().Get("error"); e != "" {
		refuse("The identity provider refused: "+e, nil)
		return
	}
	p, oc, err := s.oidc.setup(r.Context())
	if err != nil {
		refuse("The identity provider cannot be reached.", err)
		return
	}
	tok, err := oc.Exchange(r.Context(), r.URL.Query().Get("code"))
	if err != nil {
		refuse("The login code was not accepted.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID}).Verify(r.Context(), raw)
	if err != nil {
		refuse("The identity token does not verify.", err)
		return
	}
	if idt.Nonce != st.Nonce {
		refuse("The identity token was not issued for this login.", nil)
		return
	}
	var claims struct {
		Email    string `json:"email"`
		Verified *bool  `json:"email_verified"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email == "" || (claims.Verified != nil && !*claims.Verified) {
		refuse("The identity provider gave no verified e-mail.", err)
		return
	}
	role := roleOf(s.cfg, claims.Email)
	if role == "" {
		refuse(claims.Email+" has no role in this console (console.approvers, console.viewers).", nil)
		return
	}
	if err := s.setSession(w, Person{Name: claims.Email, Role: role, Via: "oidc"}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("console: logged in", "user", claims.Email, "role", role, "via", "oidc")
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}
