package web

import (
	"net/http"
	"net/url"
	"strings"
)

type loginData struct {
	Next  string
	OIDC  bool
	Token bool
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	s.renderPage(w, r, status, "login", page{Title: "Log in", Error: msg,
		Data: loginData{Next: safeNext(next), OIDC: s.oidc != nil, Token: len(s.users) > 0}})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.person(r) != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"))
}

// login takes a token login (POST /login).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.checkCSRF(r); err != nil {
		s.log.Warn("console: login refused", "reason", err.Error(), "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusForbidden, "The form expired; try again.", r.PostFormValue("next"))
		return
	}
	u, ok := s.tokenUser(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		s.log.Warn("console: login refused: unknown token", "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, "Unknown token.", r.PostFormValue("next"))
		return
	}
	if err := s.setSession(w, Person{Name: u.Name, Role: u.Role, Via: "token"}); err != nil {
		http.Error(w, "session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Info("console: logged in", "user", u.Name, "role", u.Role, "via", "token")
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.checkCSRF(r); err != nil {
		http.Error(w, "refused: "+err.Error(), http.StatusForbidden)
		return
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if next == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/events") {
		return "/"
	}
	return next
}
