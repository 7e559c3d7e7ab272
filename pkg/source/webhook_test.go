package source_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/source"
)

// TestWebhookVerifiesPushes: a GitHub push signed with the repository's
// secret and a GitLab push carrying it ask for a fetch of that repository;
// a bad signature or token is 401, fetches nothing and is counted in
// /metrics; a verified push for another repository fetches nothing; the
// secret is in no answer.
func TestWebhookVerifiesPushes(t *testing.T) {
	tel, err := obs.Setup(context.Background(), obs.TelemetryOptions{Service: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	const secret = "whsec-CANARY-19a8"
	const repoURL = "https://git.example.com/Platform/Infra.git"
	var fetched []string
	hook := source.NewWebhook([]source.HookRepo{{URL: repoURL, Secret: []byte(secret)}},
		func(_ context.Context, url string) error { fetched = append(fetched, url); return nil }, nil)
	mux := http.NewServeMux()
	mux.Handle(source.WebhookPath, hook)
	mux.Handle("/", obs.Handler(tel.Registry, obs.NewHealth()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	github := `{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.com/platform/infra.git","ssh_url":"git@git.example.com:platform/infra.git"}}`
	gitlab := `{"object_kind":"push","ref":"refs/heads/main","project":{"git_http_url":"https://git.example.com/platform/infra.git"}}`
	other := `{"ref":"refs/heads/main","repository":{"clone_url":"https://git.example.com/someone/else.git"}}`
	post := func(body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+source.WebhookPath, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if bytes.Contains(b, []byte(secret)) {
			t.Fatalf("the answer holds the secret: %s", b)
		}
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name    string
		body    string
		hdr     map[string]string
		code    int
		fetches int
	}{
		{"github signed", github, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": source.SignGitHub([]byte(github), []byte(secret))}, 202, 1},
		{"gitlab token", gitlab, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": secret}, 202, 1},
		{"github bad signature", github, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": source.SignGitHub([]byte(github), []byte("wrong"))}, 401, 0},
		{"github body changed after signing", github + " ", map[string]string{"X-Hub-Signature-256": source.SignGitHub([]byte(github), []byte(secret))}, 401, 0},
		{"gitlab wrong token", gitlab, map[string]string{"X-Gitlab-Token": "wrong"}, 401, 0},
		{"unsigned", github, nil, 401, 0},
		{"signed, another repository", other, map[string]string{"X-Hub-Signature-256": source.SignGitHub([]byte(other), []byte(secret))}, 202, 0},
		{"ping", `{"zen":"x"}`, map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": source.SignGitHub([]byte(`{"zen":"x"}`), []byte(secret))}, 200, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fetched = nil
			code, body := post(c.body, c.hdr)
			if code != c.code || len(fetched) != c.fetches {
				t.Fatalf("%d %q, fetched %v; want %d and %d fetches", code, body, fetched, c.code, c.fetches)
			}
			if c.fetches > 0 && fetched[0] != repoURL {
				t.Fatalf("fetched %v", fetched)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`driftgate_source_webhooks_total{provider="github",result="refused"} 2`,
		`driftgate_source_webhooks_total{provider="gitlab",result="refused"} 1`,
		`driftgate_source_webhooks_total{provider="unknown",result="refused"} 1`,
		`driftgate_source_webhooks_total{provider="github",result="fetched"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", grep(string(b), "driftgate_source"))
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
