package source

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/driftgate/driftgate/pkg/config"
)

// WebhookPath is where push webhooks are served on a service's HTTP address.
const WebhookPath = "/hooks/git"

// FetchSubject is the core NATS subject a verified push is announced on:
// every planner fetches the repository at once (the message is its URL).
const FetchSubject = "driftgate-rpc.source.fetch"

// maxWebhookBody bounds a push payload.
const maxWebhookBody = 1 << 20

// HookRepo is a repository whose pushes are accepted, and its secret.
type HookRepo struct {
	URL    string
	Secret []byte
}

// HookReposFromConfig lists the repositories of the config whose
// webhook_secret_env is set, with their secrets read through getenv (an
// empty one is left out: pushes for it are refused).
func HookReposFromConfig(cfg *config.File, getenv func(string) string) []HookRepo {
	var out []HookRepo
	seen := map[string]bool{}
	for i := range cfg.Workspaces {
		g := cfg.Workspaces[i].Git()
		if g == nil || g.WebhookSecretEnv == "" || seen[g.URL] {
			continue
		}
		if sec := getenv(g.WebhookSecretEnv); sec != "" {
			seen[g.URL] = true
			out = append(out, HookRepo{URL: g.URL, Secret: []byte(sec)})
		}
	}
	return out
}

// Webhook serves WebhookPath: a GitHub push (X-Hub-Signature-256: the
// HMAC-SHA256 of the body with the secret) or a GitLab push
// (X-Gitlab-Token: the secret) for a configured repository is verified and
// Fetch is called with the repository's URL; anything unverified is
// refused with 401 and counted (driftgate_source_webhooks_total{result}).
type Webhook struct {
	repos []HookRepo
	fetch func(ctx context.Context, url string) error
	log   *slog.Logger

	once    sync.Once
	counter metric.Int64Counter
}

// NewWebhook verifies pushes for repos and calls fetch for each verified one.
func NewWebhook(repos []HookRepo, fetch func(ctx context.Context, url string) error, log *slog.Logger) *Webhook {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Webhook{repos: repos, fetch: fetch, log: log}
}

func (h *Webhook) count(ctx context.Context, result, provider string) {
	h.once.Do(func() {
		c, err := otel.Meter("github.com/driftgate/driftgate/pkg/source").Int64Counter("driftgate_source_webhooks_total",
			metric.WithDescription("Git push webhooks received, by result (fetched, ignored, refused) and provider"))
		if err == nil {
			h.counter = c
		}
	})
	if h.counter != nil {
		h.counter.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result), attribute.String("provider", provider)))
	}
}

// ServeHTTP handles one push.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	provider := "unknown"
	switch {
	case r.Header.Get("X-Hub-Signature-256") != "":
		provider = "github"
	case r.Header.Get("X-Gitlab-Token") != "":
		provider = "gitlab"
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST a push webhook", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		h.count(ctx, "refused", provider)
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	var matched []HookRepo
	for _, repo := range h.repos {
		if verify(r.Header, body, repo.Secret) {
			matched = append(matched, repo)
		}
	}
	if len(matched) == 0 {
		h.count(ctx, "refused", provider)
		h.log.Warn("push webhook refused: no valid signature or token", "provider", provider, "remote", r.RemoteAddr)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if ev := r.Header.Get("X-GitHub-Event"); ev == "ping" {
		h.count(ctx, "ignored", provider)
		_, _ = io.WriteString(w, "pong\n")
		return
	}
	pushed := payloadURLs(body)
	var fetched []string
	for _, repo := range matched {
		if !pushed[normalizeURL(repo.URL)] {
			continue
		}
		if err := h.fetch(ctx, repo.URL); err != nil {
			h.log.Warn("push webhook: ask for a fetch", "repository", SafeURL(repo.URL), "err", err)
			http.Error(w, "could not ask for a fetch", http.StatusServiceUnavailable)
			return
		}
		fetched = append(fetched, SafeURL(repo.URL))
	}
	if len(fetched) == 0 {
		h.count(ctx, "ignored", provider)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "verified, but the push is for no repository configured with this secret\n")
		return
	}
	h.count(ctx, "fetched", provider)
	h.log.Info("push webhook: fetching", "provider", provider, "repositories", fetched)
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "fetching "+strings.Join(fetched, " ")+"\n")
}

// verify checks GitHub's signature or GitLab's token against secret, in
// constant time.
func verify(hdr http.Header, body, secret []byte) bool {
	if len(secret) == 0 {
		return false
	}
	if sig := hdr.Get("X-Hub-Signature-256"); sig != "" {
		hexSig, ok := strings.CutPrefix(sig, "sha256=")
		if !ok {
			return false
		}
		got, err := hex.DecodeString(hexSig)
		if err != nil {
			return false
		}
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		return hmac.Equal(got, m.Sum(nil))
	}
	if tok := hdr.Get("X-Gitlab-Token"); tok != "" {
		return subtle.ConstantTimeCompare([]byte(tok), secret) == 1
	}
	return false
}

// SignGitHub is the X-Hub-Signature-256 header value of body (for tests
// and tools that send pushes).
func SignGitHub(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// payloadURLs collects the repository URLs a GitHub or GitLab push payload
// names, normalized.
func payloadURLs(body []byte) map[string]bool {
	var p struct {
		Repository map[string]any `json:"repository"`
		Project    map[string]any `json:"project"`
	}
	out := map[string]bool{}
	if json.Unmarshal(body, &p) != nil {
		return out
	}
	for _, m := range []map[string]any{p.Repository, p.Project} {
		for _, k := range []string{"clone_url", "git_url", "ssh_url", "html_url", "url", "git_http_url", "git_ssh_url", "web_url", "homepage"} {
			if s, ok := m[k].(string); ok && s != "" {
				out[normalizeURL(s)] = true
			}
		}
	}
	return out
}

// normalizeURL reduces a repository URL to host/path, lowercased, without
// scheme, user, port of SSH, or .git: https://github.com/Org/Infra.git,
// git@github.com:org/infra and ssh://git@github.com/org/infra.git agree.
func normalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		host := u.Hostname()
		if u.Scheme == "http" || u.Scheme == "https" {
			host = u.Host
		}
		s = host + "/" + strings.TrimPrefix(u.Path, "/")
	} else if i := strings.Index(s, "@"); i >= 0 && strings.Contains(s[i:], ":") {
		s = strings.Replace(s[i+1:], ":", "/", 1)
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git")
	return strings.ToLower(s)
}
