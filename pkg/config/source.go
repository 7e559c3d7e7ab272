package config

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// Source is where a workspace's configuration comes from when it is not a
// local directory. Exactly one kind is set.
type Source struct {
	Git *GitSource `yaml:"git"`
}

// GitSource is a Git repository and the ref to follow. Credentials are never
// in the file: Auth names the environment variables that hold them.
type GitSource struct {
	URL string `yaml:"url"` // https://, http://, ssh:// or user@host:path
	// Ref is a branch, a tag or a full commit SHA.
	Ref string `yaml:"ref"`
	// Path is the root module's subdirectory in the repository ("": the
	// repository's root).
	Path string `yaml:"path"`
	// Interval between polls of the ref (default 1m).
	Interval Duration `yaml:"interval"`
	Auth     GitAuth  `yaml:"auth"`
	// WebhookSecretEnv names the variable holding the secret push webhooks
	// to /hooks/git are verified with (GitHub's X-Hub-Signature-256 or
	// GitLab's X-Gitlab-Token). Empty: pushes for this repository are
	// refused and only polling fetches.
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
}

// GitAuth is how to authenticate to the repository: an HTTPS token, basic
// auth, or an SSH key with known_hosts — each from the environment.
type GitAuth struct {
	// Username for basic auth, and the user name sent with a token
	// (default "git"; GitHub and GitLab accept any name with a token,
	// Bitbucket wants x-token-auth). Not a secret.
	Username    string `yaml:"username"`
	TokenEnv    string `yaml:"token_env"`
	PasswordEnv string `yaml:"password_env"`
	// SSHKeyEnv holds a PEM private key; KnownHostsEnv the known_hosts
	// lines the server's host key is checked against (required with a key).
	SSHKeyEnv           string `yaml:"ssh_key_env"`
	SSHKeyPassphraseEnv string `yaml:"ssh_key_passphrase_env"`
	KnownHostsEnv       string `yaml:"known_hosts_env"`
}

// DefaultSourceInterval is workspaces[].source.git.interval's default.
const DefaultSourceInterval = time.Minute

// MinSourceInterval is the shortest poll interval accepted.
const MinSourceInterval = 5 * time.Second

var (
	scpRE = regexp.MustCompile(`^([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:[^/].*$`)
	shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// GitURLKind tells an HTTP(S) URL from an SSH one ("" when it is neither).
func GitURLKind(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "http", "https":
			return "http"
		case "ssh":
			return "ssh"
		case "file":
			return "file"
		}
		return ""
	}
	if scpRE.MatchString(raw) {
		return "ssh"
	}
	return ""
}

// IsCommit reports whether a ref is a full commit SHA.
func IsCommit(ref string) bool { return shaRE.MatchString(ref) }

func (f *File) validateSource(p string, w Workspace) error {
	if w.Source == nil {
		if w.Dir == "" {
			return f.errf(p, "dir or source is required")
		}
		return nil
	}
	if w.Dir != "" {
		return f.errf(p+".source", "set dir or source, not both")
	}
	g := w.Source.Git
	if g == nil {
		return f.errf(p+".source", "source.git is required")
	}
	p += ".source.git"
	kind := GitURLKind(g.URL)
	switch {
	case g.URL == "":
		return f.errf(p+".url", "required")
	case kind == "":
		return f.errf(p+".url", "%q is not a Git URL (https://, ssh:// or user@host:path)", redactURL(g.URL))
	}
	if u, err := url.Parse(g.URL); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return f.errf(p+".url", "%q holds a password; credentials come from the environment (auth.token_env, auth.password_env)", redactURL(g.URL))
		}
	}
	if kind == "http" {
		if u, _ := url.Parse(g.URL); u.Host == "" {
			return f.errf(p+".url", "%q names no host", g.URL)
		}
	}
	switch {
	case g.Ref == "":
		return f.errf(p+".ref", "required (a branch, a tag or a full commit SHA)")
	case strings.HasPrefix(g.Ref, "-") || strings.ContainsAny(g.Ref, " ~^:?*[\\") || strings.Contains(g.Ref, ".."):
		return f.errf(p+".ref", "%q is not a branch, tag or commit", g.Ref)
	}
	if g.Path != "" {
		c := path.Clean(g.Path)
		if path.IsAbs(g.Path) || c == ".." || strings.HasPrefix(c, "../") {
			return f.errf(p+".path", "%q must be a subdirectory of the repository (relative, without ..)", g.Path)
		}
	}
	if g.Interval.Duration != 0 && g.Interval.Duration < MinSourceInterval {
		return f.errf(p+".interval", "%s is shorter than %s", g.Interval, MinSourceInterval)
	}
	a := g.Auth
	for _, e := range []struct{ field, v string }{
		{"auth.token_env", a.TokenEnv}, {"auth.password_env", a.PasswordEnv}, {"auth.ssh_key_env", a.SSHKeyEnv},
		{"auth.ssh_key_passphrase_env", a.SSHKeyPassphraseEnv}, {"auth.known_hosts_env", a.KnownHostsEnv},
		{"webhook_secret_env", g.WebhookSecretEnv},
	} {
		if e.v != "" && !envRE.MatchString(e.v) {
			return f.errf(p+"."+e.field, "%q is not an environment variable name", e.v)
		}
	}
	switch {
	case a.TokenEnv != "" && a.PasswordEnv != "":
		return f.errf(p+".auth.token_env", "set token_env or password_env, not both")
	case a.PasswordEnv != "" && a.Username == "":
		return f.errf(p+".auth.username", "required with password_env")
	case kind != "http" && (a.TokenEnv != "" || a.PasswordEnv != ""):
		return f.errf(p+".auth", "a token or password authenticates HTTPS URLs; %s is an SSH URL (use ssh_key_env and known_hosts_env)", redactURL(g.URL))
	case kind == "http" && (a.SSHKeyEnv != "" || a.KnownHostsEnv != ""):
		return f.errf(p+".auth.ssh_key_env", "an SSH key authenticates SSH URLs; %s is HTTP(S) (use token_env)", redactURL(g.URL))
	case kind == "ssh" && a.SSHKeyEnv == "":
		return f.errf(p+".auth.ssh_key_env", "required for an SSH URL")
	case kind == "ssh" && a.KnownHostsEnv == "":
		return f.errf(p+".auth.known_hosts_env", "required for an SSH URL: the server's host key is always checked")
	case a.SSHKeyPassphraseEnv != "" && a.SSHKeyEnv == "":
		return f.errf(p+".auth.ssh_key_passphrase_env", "set only with ssh_key_env")
	}
	return nil
}

// redactURL drops the user info of a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}

// checkSourceEnv is CheckEnv for a workspace's Git source.
func (f *File) checkSourceEnv(i int, w Workspace, check func(path, name, what string) error) error {
	if w.Source == nil || w.Source.Git == nil {
		return nil
	}
	p := fmt.Sprintf("workspaces[%d].source.git", i)
	g := w.Source.Git
	for _, e := range []struct{ field, v, what string }{
		{"auth.token_env", g.Auth.TokenEnv, "the Git token of " + redactURL(g.URL)},
		{"auth.password_env", g.Auth.PasswordEnv, "the Git password of " + redactURL(g.URL)},
		{"auth.ssh_key_env", g.Auth.SSHKeyEnv, "the SSH private key for " + redactURL(g.URL)},
		{"auth.ssh_key_passphrase_env", g.Auth.SSHKeyPassphraseEnv, "the SSH key's passphrase"},
		{"auth.known_hosts_env", g.Auth.KnownHostsEnv, "the known_hosts lines of " + redactURL(g.URL)},
		{"webhook_secret_env", g.WebhookSecretEnv, "the push webhook secret of " + redactURL(g.URL)},
	} {
		if err := check(p+"."+e.field, e.v, e.what); err != nil {
			return err
		}
	}
	return nil
}

// Git returns the workspace's Git source, nil for a local dir.
func (w *Workspace) Git() *GitSource {
	if w.Source == nil {
		return nil
	}
	return w.Source.Git
}
