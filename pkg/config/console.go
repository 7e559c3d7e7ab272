package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Console is the web console's section. Without listen the console does not
// run. Secrets (login tokens, the OIDC client secret, the session key, the
// Slack signing secret) come from the environment variables named here.
type Console struct {
	// Listen is the console's HTTP address (host:port).
	Listen string `yaml:"listen"`
	// BaseURL is how browsers reach it (the OIDC redirect URL and the links
	// in Slack messages are made from it); default http://<listen>.
	BaseURL string `yaml:"base_url"`
	// SessionKeyEnv names the variable holding the key that signs session
	// and CSRF cookies (every replica needs the same one). Empty: a random
	// key per start, so logins end when the console restarts.
	SessionKeyEnv string `yaml:"session_key_env"`
	// SessionTTL is how long a login lasts; default 12h.
	SessionTTL Duration `yaml:"session_ttl"`
	// Users log in with a token (the lab, small installs).
	Users []ConsoleUser `yaml:"users"`
	// OIDC logs people in through an OpenID Connect provider; Approvers and
	// Viewers give them their role by e-mail (or "*@domain").
	OIDC      *ConsoleOIDC `yaml:"oidc"`
	Approvers []string     `yaml:"approvers"`
	Viewers   []string     `yaml:"viewers"`
	// Slack serves Slack's interactivity endpoint (/slack/interactive): the
	// Approve/Reject buttons of import.requested messages.
	Slack *ConsoleSlack `yaml:"slack"`
}

// Console roles.
const (
	RoleViewer   = "viewer"
	RoleApprover = "approver"
)

// ConsoleUser is a token login: the token is in the named variable.
type ConsoleUser struct {
	Name     string `yaml:"name"`
	Role     string `yaml:"role"` // viewer | approver
	TokenEnv string `yaml:"token_env"`
}

// ConsoleOIDC is an OpenID Connect client (authorization code flow).
type ConsoleOIDC struct {
	Issuer          string   `yaml:"issuer"`
	ClientID        string   `yaml:"client_id"`
	ClientSecretEnv string   `yaml:"client_secret_env"`
	Scopes          []string `yaml:"scopes"` // default openid, email, profile
}

// ConsoleSlack verifies Slack's interactivity requests and maps Slack users
// to approvers.
type ConsoleSlack struct {
	SigningSecretEnv string `yaml:"signing_secret_env"`
	// Approvers are the Slack users allowed to decide, with the name their
	// decisions carry.
	Approvers []SlackApprover `yaml:"approvers"`
}

// SlackApprover maps a Slack user id (U…) to an approver's name.
type SlackApprover struct {
	SlackUser string `yaml:"slack_user"`
	Name      string `yaml:"name"`
}

// DefaultSessionTTL is console.session_ttl's default.
const DefaultSessionTTL = 12 * time.Hour

func (c *Console) applyDefaults() {
	if c.Listen == "" {
		return
	}
	if c.SessionTTL.Duration == 0 {
		c.SessionTTL.Duration = DefaultSessionTTL
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Listen
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.OIDC != nil && len(c.OIDC.Scopes) == 0 {
		c.OIDC.Scopes = []string{"openid", "email", "profile"}
	}
}

func (f *File) validateConsole() error {
	c := f.Console
	if c.Listen == "" {
		if len(c.Users) > 0 || c.OIDC != nil || c.Slack != nil {
			return f.errf("console.listen", "required when the console has users, oidc or slack")
		}
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return f.errf("console.listen", "%q is not host:port", c.Listen)
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return f.errf("console.base_url", "%q is not an http(s) URL", c.BaseURL)
		}
	}
	if c.SessionKeyEnv != "" && !envRE.MatchString(c.SessionKeyEnv) {
		return f.errf("console.session_key_env", "%q is not an environment variable name", c.SessionKeyEnv)
	}
	if len(c.Users) == 0 && c.OIDC == nil {
		return f.errf("console", "set users (token login) or oidc: nobody could log in")
	}
	names := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf("console.users[%d]", i)
		switch {
		case strings.TrimSpace(u.Name) == "":
			return f.errf(p+".name", "required: decisions carry it")
		case names[u.Name]:
			return f.errf(p+".name", "user %q is defined twice", u.Name)
		case u.Role != RoleViewer && u.Role != RoleApprover:
			return f.errf(p+".role", "%q is not viewer or approver", u.Role)
		case !envRE.MatchString(u.TokenEnv):
			return f.errf(p+".token_env", "%q is not an environment variable name (the login token comes from the environment)", u.TokenEnv)
		}
		names[u.Name] = true
	}
	if o := c.OIDC; o != nil {
		u, err := url.Parse(o.Issuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return f.errf("console.oidc.issuer", "%q is not an http(s) URL", o.Issuer)
		}
		if o.ClientID == "" {
			return f.errf("console.oidc.client_id", "required")
		}
		if !envRE.MatchString(o.ClientSecretEnv) {
			return f.errf("console.oidc.client_secret_env", "%q is not an environment variable name", o.ClientSecretEnv)
		}
		if len(c.Approvers)+len(c.Viewers) == 0 {
			return f.errf("console.approvers", "with oidc, list approvers or viewers (e-mails or *@domain): nobody would have a role")
		}
	}
	if s := c.Slack; s != nil {
		if !envRE.MatchString(s.SigningSecretEnv) {
			return f.errf("console.slack.signing_secret_env", "%q is not an environment variable name", s.SigningSecretEnv)
		}
		seen := map[string]bool{}
		for i, a := range s.Approvers {
			p := fmt.Sprintf("console.slack.approvers[%d]", i)
			switch {
			case a.SlackUser == "" || strings.ContainsAny(a.SlackUser, " \t"):
				return f.errf(p+".slack_user", "%q is not a Slack user id (U…)", a.SlackUser)
			case seen[a.SlackUser]:
				return f.errf(p+".slack_user", "%s is listed twice", a.SlackUser)
			case strings.TrimSpace(a.Name) == "":
				return f.errf(p+".name", "required: decisions carry it")
			}
			seen[a.SlackUser] = true
		}
	}
	return nil
}

func (f *File) checkConsoleEnv(check func(path, name, what string) error) error {
	c := f.Console
	if c.Listen == "" {
		return nil
	}
	if err := check("console.session_key_env", c.SessionKeyEnv, "the console's session key"); err != nil {
		return err
	}
	for i, u := range c.Users {
		if err := check(fmt.Sprintf("console.users[%d].token_env", i), u.TokenEnv, "the login token of "+u.Name); err != nil {
			return err
		}
	}
	if c.OIDC != nil {
		if err := check("console.oidc.client_secret_env", c.OIDC.ClientSecretEnv, "the OIDC client secret"); err != nil {
			return err
		}
	}
	if c.Slack != nil {
		if err := check("console.slack.signing_secret_env", c.Slack.SigningSecretEnv, "the Slack signing secret"); err != nil {
			return err
		}
	}
	return nil
}
