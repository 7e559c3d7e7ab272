package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
)

// Cookies of the console. The session and the OIDC state are signed with
// the session key; the CSRF cookie is a random value whose HMAC every form
// carries.
const (
	cookieSession = "dg_session"
	cookieCSRF    = "dg_csrf"
	cookieOIDC    = "dg_oidc"
	fieldCSRF     = "csrf"
)

// Person is who is logged in, and how.
type Person struct {
	Name string    `json:"n"`
	Role string    `json:"r"` // viewer | approver
	Via  string    `json:"v"` // token | oidc
	Exp  time.Time `json:"e"`
}

// CanDecide reports whether p may approve or reject imports.
func (p *Person) CanDecide() bool { return p != nil && p.Role == config.RoleApprover }

// keyring signs and opens the console's cookies.
type keyring struct{ key []byte }

func newKeyring(secret string) (keyring, error) {
	if secret != "" {
		h := sha256.Sum256([]byte("driftgate-console-v1\n" + secret))
		return keyring{key: h[:]}, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return keyring{}, err
	}
	return keyring{key: k}, nil
}

func (k keyring) mac(purpose string, b []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(purpose + "\n"))
	m.Write(b)
	return m.Sum(nil)
}

// seal encodes v as base64(json).base64(mac).
func (k keyring) seal(purpose string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b) + "." + enc.EncodeToString(k.mac(purpose, b)), nil
}

var errBadCookie = errors.New("cookie does not verify")

// open reverses seal, refusing anything not signed with this key.
func (k keyring) open(purpose, s string, v any) error {
	body, sig, ok := strings.Cut(s, ".")
	if !ok {
		return errBadCookie
	}
	enc := base64.RawURLEncoding
	b, err := enc.DecodeString(body)
	if err != nil {
		return errBadCookie
	}
	got, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.mac(purpose, b)) {
		return errBadCookie
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadCookie
	}
	return nil
}

// person returns the logged-in person of r, or nil.
func (s *Server) person(r *http.Request) *Person {
	c, err := r.Cookie(cookieSession)
	if err != nil {
		return nil
	}
	var p Person
	if err := s.keys.open("session", c.Value, &p); err != nil {
		return nil
	}
	if p.Name == "" || !s.now().Before(p.Exp) {
		return nil
	}
	// A token user removed from the config, or whose role changed, loses
	// the old session's rights at once.
	if p.Via == "token" {
		u, ok := s.users[p.Name]
		if !ok {
			return nil
		}
		p.Role = u.Role
	}
	return &p
}

func (s *Server) setSession(w http.ResponseWriter, p Person) error {
	p.Exp = s.now().Add(s.cfg.SessionTTL.Duration)
	v, err := s.keys.seal("session", p)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: v, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, Expires: p.Exp})
	return nil
}

func (s *Server) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// csrfToken returns the token forms of this browser carry, setting the CSRF
// cookie when the browser has none yet.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	var id string
	if c, err := r.Cookie(cookieCSRF); err == nil && len(c.Value) >= 32 {
		id = c.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		id = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{Name: cookieCSRF, Value: id, Path: "/", HttpOnly: true, Secure: s.secure,
			SameSite: http.SameSiteStrictMode})
	}
	return base64.RawURLEncoding.EncodeToString(s.keys.mac("csrf", []byte(id)))
}

// checkCSRF verifies a form's token against the browser's CSRF cookie and,
// when the browser names one, the request's origin.
func (s *Server) checkCSRF(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.origin && o != "http://"+r.Host && o != "https://"+r.Host {
		return errors.New("cross-origin form")
	}
	c, err := r.Cookie(cookieCSRF)
	if err != nil || c.Value == "" {
		return errors.New("no CSRF cookie")
	}
	got, err := base64.RawURLEncoding.DecodeString(r.PostFormValue(fieldCSRF))
	if err != nil || !hmac.Equal(got, s.keys.mac("csrf", []byte(c.Value))) {
		return errors.New("bad CSRF token")
	}
	return nil
}

// tokenUser returns the user whose login token is tok. Every configured
// token is compared in constant time.
func (s *Server) tokenUser(tok string) (tokenUser, bool) {
	var found tokenUser
	ok := false
	for _, u := range s.users {
		if u.Token != "" && subtle.ConstantTimeCompare([]byte(u.Token), []byte(tok)) == 1 {
			found, ok = u, true
		}
	}
	return found, ok && tok != ""
}

// tokenUser is a configured token login.
type tokenUser struct {
	Name, Role, Token string
}

// roleOf gives an OIDC identity (its e-mail) its role from
// console.approvers / console.viewers ("*@domain" matches a domain);
// "" when it has none.
func roleOf(c config.Console, email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	match := func(list []string) bool {
		for _, m := range list {
			m = strings.ToLower(strings.TrimSpace(m))
			if m == email || strings.HasPrefix(m, "*@") && strings.HasSuffix(email, m[1:]) {
				return true
			}
		}
		return false
	}
	switch {
	case email == "":
		return ""
	case match(c.Approvers):
		return config.RoleApprover
	case match(c.Viewers):
		return config.RoleViewer
	}
	return ""
}
