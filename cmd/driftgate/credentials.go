package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// The embedded server never accepts anonymous clients. Its token is, in order:
// $DRIFTGATE_NATS_TOKEN, the token file in the data dir, a new random one
// written there. `driftgate run` also leaves a copy under the user's config dir
// keyed by the listen address, where the CLI finds it on the same machine
// (the same user; both files are 0600 in 0700 directories).
const tokenFile = "nats.token"

// embeddedToken returns the token the embedded server requires and whether
// it came from the environment.
func embeddedToken(dataDir string, getenv func(string) string) (string, error) {
	if tok := getenv(envNATSToken); tok != "" {
		return tok, nil
	}
	path := filepath.Join(dataDir, tokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%s is empty (delete it to have a new token made)", path)
		}
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read the NATS token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("make a NATS token: %w", err)
	}
	tok := hex.EncodeToString(raw)
	if err := writeSecret(path, tok); err != nil {
		return "", fmt.Errorf("write the NATS token: %w", err)
	}
	return tok, nil
}

// credentialPath is where the CLI looks for the token of the server at addr
// (host:port); "" when the user has no config dir.
func credentialPath(addr string, getenv func(string) string) string {
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if host == "" || host == "localhost" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return filepath.Join(dir, "driftgate", "nats", strings.NewReplacer(":", "_", "/", "_").Replace(host)+"_"+port+".token")
}

// cliToken is the token the CLI sends to the server at rawURL:
// $DRIFTGATE_NATS_TOKEN, else the copy `driftgate run` left for that address.
func cliToken(rawURL string, getenv func(string) string) string {
	if tok := getenv(envNATSToken); tok != "" {
		return tok
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "4222")
	}
	path := credentialPath(addr, getenv)
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// writeSecret writes s to path with mode 0600 (its directory 0700), all or
// nothing.
func writeSecret(path, s string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// checkLoopback refuses to serve the embedded NATS beyond this machine: it
// has no TLS, and a token sent in clear over a network is not a secret.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: the embedded NATS serves loopback only (it has no TLS, and its token would cross the network in clear); to reach it from other machines run an external NATS with TLS and give --nats-url (docs/security.md)", addr)
	}
	return nil
}
