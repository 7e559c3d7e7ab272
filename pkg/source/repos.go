package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/driftgate/driftgate/pkg/config"
)

// Repos is a service's fetchers, one per repository URL (and credentials),
// shared by every workspace whose source is that repository. Workspaces
// that name different credentials for the same URL get a fetcher each,
// each in its own directory: a fetch never runs with another workspace's
// credentials.
type Repos struct {
	root   string
	getenv func(string) string
	log    *slog.Logger

	mu    sync.Mutex
	byURL map[string]*Fetcher
}

// NewRepos keeps fetchers under root; credentials are read through getenv.
func NewRepos(root string, getenv func(string) string, log *slog.Logger) *Repos {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	return &Repos{root: root, getenv: getenv, log: log, byURL: map[string]*Fetcher{}}
}

// For returns the fetcher of g's repository, creating it on first use.
func (r *Repos) For(g *config.GitSource) (*Fetcher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The credentials' variable names (never their values) tell fetchers
	// of one URL apart.
	key := g.URL + "\x00" + fmt.Sprintf("%+v", g.Auth)
	if f := r.byURL[key]; f != nil {
		return f, nil
	}
	auth, err := AuthFromConfig(g.Auth, r.getenv)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", SafeURL(g.URL), err)
	}
	root := r.root
	if (g.Auth != config.GitAuth{}) {
		h := sha256.Sum256([]byte(key))
		root = filepath.Join(r.root, "auth-"+hex.EncodeToString(h[:4]))
	}
	f, err := NewFetcher(root, g.URL, auth, r.log)
	if err != nil {
		return nil, err
	}
	r.byURL[key] = f
	return f, nil
}

// Each calls fn with every fetcher created so far.
func (r *Repos) Each(fn func(*Fetcher)) {
	r.mu.Lock()
	fs := make([]*Fetcher, 0, len(r.byURL))
	for _, f := range r.byURL {
		fs = append(fs, f)
	}
	r.mu.Unlock()
	for _, f := range fs {
		fn(f)
	}
}
