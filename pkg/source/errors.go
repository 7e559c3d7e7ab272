package source

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Kind classifies a source failure.
type Kind string

// Failure kinds.
const (
	KindAuth        Kind = "auth"        // credentials missing, wrong or not allowed
	KindRef         Kind = "ref"         // the ref (branch, tag, commit) is not in the repository
	KindRepository  Kind = "repository"  // no such repository (or it is empty)
	KindUnreachable Kind = "unreachable" // the remote cannot be reached
	KindPath        Kind = "path"        // the configured path is not in the commit
	KindCheckout    Kind = "checkout"    // writing the checkout failed (disk)
	KindFetch       Kind = "fetch"       // any other failure to fetch
)

// Error is a failure to fetch or check out a source. Its message names the
// repository (without credentials), the ref and the reason; it never holds
// a secret.
type Error struct {
	Kind Kind
	URL  string // without user info
	Ref  string
	Msg  string // redacted
}

func (e *Error) Error() string {
	s := fmt.Sprintf("git %s", e.URL)
	if e.Ref != "" {
		s += " ref " + e.Ref
	}
	return s + ": " + e.Msg
}

// Is lets errors.Is(err, &Error{Kind: k}) match any error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.URL == "" && t.Msg == ""
}

// ErrKind is a target for errors.Is: errors.Is(err, source.ErrKind(source.KindAuth)).
func ErrKind(k Kind) error { return &Error{Kind: k} }

// KindOf returns the kind of a source error ("" when err is not one).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// classify turns a go-git or system error into an *Error, its message
// redacted of every secret.
func (f *Fetcher) classify(ref string, err error) error {
	var already *Error
	if errors.As(err, &already) {
		return already
	}
	kind, msg := KindFetch, err.Error()
	var nerr net.Error
	var oerr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired):
		kind, msg = KindAuth, "authentication failed: the credentials are missing or wrong (auth.token_env, auth.password_env)"
	case errors.Is(err, transport.ErrAuthorizationFailed):
		kind, msg = KindAuth, "authorization failed: the credentials are not allowed to read the repository"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		kind, msg = KindRepository, "repository not found (or not visible with these credentials)"
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		kind, msg = KindRepository, "the repository is empty"
	case errors.As(err, &dnsErr), errors.As(err, &oerr), errors.As(err, &nerr):
		kind, msg = KindUnreachable, "unreachable: "+msg
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"),
		strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "network is unreachable"),
		strings.Contains(msg, "context deadline exceeded"):
		kind, msg = KindUnreachable, "unreachable: "+msg
	case strings.Contains(msg, "unable to authenticate"), strings.Contains(msg, "knownhosts"),
		strings.Contains(msg, "host key"):
		kind, msg = KindAuth, "ssh: "+strings.TrimPrefix(msg, "ssh: ")
	}
	return &Error{Kind: kind, URL: f.safeURL, Ref: ref, Msg: f.redact(msg)}
}

// redact removes the fetcher's secrets (and any URL user info) from s.
func (f *Fetcher) redact(s string) string {
	for _, sec := range f.auth.secrets() {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	if f.rawURL != f.safeURL {
		s = strings.ReplaceAll(s, f.rawURL, f.safeURL)
	}
	return s
}

// SafeURL drops the user info of a URL (scp-like SSH URLs keep their user,
// which is not a secret).
func SafeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || u.Scheme == "" {
		return raw
	}
	u.User = nil
	return u.String()
}
