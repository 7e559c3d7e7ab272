package source

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	"github.com/driftgate/driftgate/pkg/config"
)

// DefaultTokenUser is the user name sent with a token (basic auth).
const DefaultTokenUser = "git"

// Auth is a repository's credentials, read from the environment by the
// caller (the config names the variables). It holds secrets: never log it.
type Auth struct {
	Username         string
	Password         string // a token or a password
	SSHKey           []byte // PEM
	SSHKeyPassphrase string
	KnownHosts       []byte
}

// AuthFromConfig reads the credentials the config names through getenv.
// A named variable that is empty is an error naming the field.
func AuthFromConfig(a config.GitAuth, getenv func(string) string) (Auth, error) {
	var out Auth
	read := func(field, name string) (string, error) {
		if name == "" {
			return "", nil
		}
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("auth.%s: environment variable %s is empty", field, name)
		}
		return v, nil
	}
	var err error
	if out.Password, err = read("token_env", a.TokenEnv); err != nil {
		return out, err
	}
	if a.TokenEnv != "" {
		out.Username = a.Username
		if out.Username == "" {
			out.Username = DefaultTokenUser
		}
	}
	if a.PasswordEnv != "" {
		if out.Password, err = read("password_env", a.PasswordEnv); err != nil {
			return out, err
		}
		out.Username = a.Username
	}
	key, err := read("ssh_key_env", a.SSHKeyEnv)
	if err != nil {
		return out, err
	}
	out.SSHKey = []byte(key)
	if out.SSHKeyPassphrase, err = read("ssh_key_passphrase_env", a.SSHKeyPassphraseEnv); err != nil {
		return out, err
	}
	kh, err := read("known_hosts_env", a.KnownHostsEnv)
	if err != nil {
		return out, err
	}
	out.KnownHosts = []byte(kh)
	if len(out.SSHKey) > 0 && a.Username != "" {
		out.Username = a.Username
	}
	return out, nil
}

func (a Auth) secrets() []string {
	var s []string
	if a.Password != "" {
		s = append(s, a.Password)
	}
	if len(a.SSHKey) > 0 {
		s = append(s, string(a.SSHKey))
	}
	if a.SSHKeyPassphrase != "" {
		s = append(s, a.SSHKeyPassphrase)
	}
	return s
}

// method builds go-git's auth for the URL kind; dir holds the known_hosts
// file an SSH host key is checked against.
func (a Auth) method(kind, sshUser, dir string) (transport.AuthMethod, error) {
	switch {
	case kind == "http" && a.Password != "":
		return &githttp.BasicAuth{Username: a.Username, Password: a.Password}, nil
	case kind == "ssh" && len(a.SSHKey) > 0:
		user := a.Username
		if user == "" {
			user = sshUser
		}
		if user == "" {
			user = "git"
		}
		pk, err := gitssh.NewPublicKeys(user, a.SSHKey, a.SSHKeyPassphrase)
		if err != nil {
			return nil, fmt.Errorf("auth.ssh_key_env: the key does not parse (PEM private key expected)")
		}
		if len(a.KnownHosts) == 0 {
			return nil, fmt.Errorf("auth.known_hosts_env: empty: the server's host key is always checked")
		}
		path := filepath.Join(dir, "known_hosts")
		if err := os.WriteFile(path, a.KnownHosts, 0o600); err != nil {
			return nil, fmt.Errorf("write known_hosts: %w", err)
		}
		cb, err := gitssh.NewKnownHostsCallback(path)
		if err != nil {
			return nil, fmt.Errorf("auth.known_hosts_env: %v", err)
		}
		pk.HostKeyCallback = cb
		return pk, nil
	}
	return nil, nil
}
