package planner_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/pkg/source/gittest"
)

// TestPushWebhookFetchesAtOnce: with a poll interval of an hour, a push
// webhook signed with the repository's secret, sent to the service's HTTP
// address, makes the planner fetch the new commit at once (source.updated,
// trigger webhook); a bad signature is 401, counted, and asks for nothing.
func TestPushWebhookFetchesAtOnce(t *testing.T) {
	const token, secret = "tok-CANARY-hook-1", "whsec-CANARY-hook-2"
	env := eventstest.Start(t)
	rec := env.Record(t)
	srv := gittest.New(t, token)
	c1 := srv.Commit(t, "main", "first", map[string]*string{"main.tf": gittest.Text("# one\n")})
	t.Setenv("DRIFTGATE_TEST_GIT_TOKEN", token)
	t.Setenv("DRIFTGATE_TEST_HOOK_SECRET", secret)
	cfg := &config.File{
		Clusters: []config.Cluster{{Name: "lab", Kubeconfig: "/nonexistent"}},
		Workspaces: []config.Workspace{{Name: "hooked", Cluster: "lab", Binary: "/bin/true",
			Source: &config.Source{Git: &config.GitSource{URL: srv.URL, Ref: "main", Interval: config.Duration{Duration: time.Hour},
				Auth: config.GitAuth{TokenEnv: "DRIFTGATE_TEST_GIT_TOKEN"}, WebhookSecretEnv: "DRIFTGATE_TEST_HOOK_SECRET"}}}},
	}
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), nil)
	updated := func(rev, trigger string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			u, ok := r.Data.(*events.SourceUpdated)
			return ok && u.WS == "hooked" && u.Commit == rev && u.Trigger == trigger
		}
	}
	rec.WaitFor(t, 0, time.Minute, "source.updated at startup", updated(c1, "startup"))

	tel, err := obs.Setup(context.Background(), obs.TelemetryOptions{Service: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	hs := httptest.NewServer(service.HTTPHandler(cfg, service.Deps{Conn: env.Conn, Health: obs.NewHealth(), Getenv: func(k string) string {
		if k == "DRIFTGATE_TEST_HOOK_SECRET" {
			return secret
		}
		return ""
	}, Log: quietLog()}, tel))
	defer hs.Close()
	c2 := srv.Commit(t, "main", "second", map[string]*string{"main.tf": gittest.Text("# two\n")})
	body := `{"ref":"refs/heads/main","repository":{"clone_url":"` + srv.URL + `"}}`
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+source.WebhookPath, strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	asks, err := env.Conn.SubscribeSync(source.FetchSubject)
	if err != nil {
		t.Fatal(err)
	}
	lists := srv.Lists()
	if code := post(source.SignGitHub([]byte(body), []byte("not-the-secret"))); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d, want 401", code)
	}
	// The handler publishes before it answers: after a round trip to the
	// server, an ask would be here.
	if err := env.Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := asks.Pending(); n != 0 || srv.Lists() != lists {
		t.Fatalf("a refused push asked for %d fetches (%d ref listings)", n, srv.Lists()-lists)
	}
	resp, err := http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `driftgate_source_webhooks_total{provider="github",result="refused"} 1`) {
		t.Fatalf("the refusal is not counted:\n%s", grep(string(m), "driftgate_source"))
	}

	if code := post(source.SignGitHub([]byte(body), []byte(secret))); code != http.StatusAccepted {
		t.Fatalf("signed push: %d, want 202", code)
	}
	rec.WaitFor(t, 0, time.Minute, "source.updated by the webhook", updated(c2, "webhook"))
	for _, r := range rec.All() {
		if strings.Contains(string(r.Raw), "CANARY") {
			t.Fatalf("a secret is in an event: %s", r.Raw)
		}
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSourceFailuresAreOneEventEach: a wrong token, an unknown ref and an
// unreachable host are each one FetchFailed event (component source) naming
// the workspace and the reason, not repeated by later polls; the token is
// in no event and no log line.
func TestSourceFailuresAreOneEventEach(t *testing.T) {
	const token = "tok-CANARY-fail-9"
	env := eventstest.Start(t)
	rec := env.Record(t)
	srv := gittest.New(t, token)
	srv.Commit(t, "main", "first", map[string]*string{"main.tf": gittest.Text("# one\n")})
	gone := gittest.New(t, token)
	gone.Close()
	t.Setenv("DRIFTGATE_TEST_GIT_TOKEN", token)
	t.Setenv("DRIFTGATE_TEST_WRONG_TOKEN", token+"-wrong")
	ws := func(name, url, ref, tokenEnv string) config.Workspace {
		return config.Workspace{Name: name, Cluster: "lab", Binary: "/bin/true",
			Source: &config.Source{Git: &config.GitSource{URL: url, Ref: ref, Interval: config.Duration{Duration: 200 * time.Millisecond},
				Auth: config.GitAuth{TokenEnv: tokenEnv}}}}
	}
	cfg := &config.File{
		Clusters: []config.Cluster{{Name: "lab", Kubeconfig: "/nonexistent"}},
		Workspaces: []config.Workspace{
			ws("badtoken", srv.URL, "main", "DRIFTGATE_TEST_WRONG_TOKEN"),
			ws("badref", srv.URL, "no-such-branch", "DRIFTGATE_TEST_GIT_TOKEN"),
			ws("gone", gone.URL, "main", "DRIFTGATE_TEST_GIT_TOKEN"),
		},
	}
	logs := &lockedBuffer{}
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	failed := func(ws string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			h, ok := r.Data.(*events.ClusterHealth)
			return ok && h.Component == events.ComponentSource && h.WS == ws && h.Condition == "FetchFailed" && h.Status == "True"
		}
	}
	for _, c := range []struct{ ws, reason, text string }{
		{"badtoken", "auth", "authentication failed"},
		{"badref", "ref", "no branch or tag of that name"},
		{"gone", "unreachable", "unreachable"},
	} {
		r := rec.WaitFor(t, 0, time.Minute, "FetchFailed "+c.ws, failed(c.ws))
		h := r.Data.(*events.ClusterHealth)
		if h.Reason != c.reason || !strings.Contains(h.Message, c.text) || !strings.Contains(h.Message, "nothing to plan until a revision is fetched") {
			t.Errorf("%s: %+v", c.ws, h)
		}
		t.Logf("%s", h.Summary())
	}
	// Later polls (every 200ms) fail the same way: wait until each
	// workspace has logged several more failures, then count the events.
	deadline := time.Now().Add(time.Minute)
	for strings.Count(logs.String(), `"msg":"fetch configuration"`) < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("the planner logged %d fetch failures in a minute", strings.Count(logs.String(), `"msg":"fetch configuration"`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.WaitCaughtUp(t, 30*time.Second)
	for _, w := range []string{"badtoken", "badref", "gone"} {
		if n := rec.Count(0, failed(w)); n != 1 {
			t.Errorf("%s: %d FetchFailed events for one lasting failure, want 1", w, n)
		}
	}
	for _, r := range rec.All() {
		if strings.Contains(string(r.Raw), "CANARY") {
			t.Fatalf("the token is in an event: %s", r.Raw)
		}
	}
	if strings.Contains(logs.String(), "CANARY") {
		t.Fatal("the token is in the log")
	}
}
