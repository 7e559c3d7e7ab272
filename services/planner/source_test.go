package planner_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
