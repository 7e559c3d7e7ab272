package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
)

func sourceConfig(git string) string {
	return "clusters: [{name: lab}]\nworkspaces:\n  - name: platform\n    source:\n      git: " + git + "\n"
}

func TestGitSourceLoadsWithDefaults(t *testing.T) {
	f, err := config.Parse("d.yaml", []byte(sourceConfig(`{url: "https://git.example.com/platform/infra.git", ref: main, path: terraform/k8s, auth: {token_env: GIT_TOKEN}}`)))
	if err != nil {
		t.Fatal(err)
	}
	g := f.Workspaces[0].Git()
	if g == nil || g.Ref != "main" || g.Path != "terraform/k8s" || g.Interval.Duration != time.Minute || g.Auth.TokenEnv != "GIT_TOKEN" {
		t.Fatalf("decoded %+v", g)
	}
	env := map[string]string{}
	err = f.CheckEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "workspaces[0].source.git.auth.token_env") || !strings.Contains(err.Error(), "GIT_TOKEN") {
		t.Fatalf("CheckEnv with GIT_TOKEN unset: %v", err)
	}
	env["GIT_TOKEN"] = "x"
	if err := f.CheckEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	// An SSH source with its key and known_hosts.
	if _, err := config.Parse("d.yaml", []byte(sourceConfig(`{url: "git@github.com:org/infra.git", ref: v1.2.0, auth: {ssh_key_env: K, known_hosts_env: KH}}`))); err != nil {
		t.Fatal(err)
	}
}

// TestGitSourceErrors: each mistake is one line naming the field, and a
// secret written into the file is refused without being echoed.
func TestGitSourceErrors(t *testing.T) {
	const canary = "ghp_CANARY0123456789"
	cases := []struct{ name, git, want string }{
		{"no url", `{ref: main}`, "workspaces[0].source.git.url: required"},
		{"not a url", `{url: "not a url", ref: main}`, "workspaces[0].source.git.url: \"not a url\" is not a Git URL"},
		{"password in url", `{url: "https://bot:` + canary + `@git.example.com/x.git", ref: main}`, "workspaces[0].source.git.url: \"https://git.example.com/x.git\" holds a password"},
		{"no ref", `{url: "https://git.example.com/x.git"}`, "workspaces[0].source.git.ref: required"},
		{"bad ref", `{url: "https://git.example.com/x.git", ref: "a..b"}`, "workspaces[0].source.git.ref: \"a..b\" is not a branch"},
		{"path escapes", `{url: "https://git.example.com/x.git", ref: main, path: ../etc}`, "workspaces[0].source.git.path: \"../etc\" must be a subdirectory"},
		{"interval too short", `{url: "https://git.example.com/x.git", ref: main, interval: 1s}`, "workspaces[0].source.git.interval: 1s is shorter than 5s"},
		{"token in file", `{url: "https://git.example.com/x.git", ref: main, auth: {token: ` + canary + `}}`, "workspaces[0].source.git.auth.token: unknown field (secrets come from the environment: use token_env)"},
		{"key in file", `{url: "git@h:x.git", ref: main, auth: {ssh_key: ` + canary + `}}`, "workspaces[0].source.git.auth.ssh_key: unknown field (secrets come from the environment: use ssh_key_env)"},
		{"webhook secret in file", `{url: "https://git.example.com/x.git", ref: main, webhook_secret: ` + canary + `}`, "workspaces[0].source.git.webhook_secret: unknown field (secrets come from the environment: use webhook_secret_env)"},
		{"bad env name", `{url: "https://git.example.com/x.git", ref: main, auth: {token_env: "1X"}}`, "workspaces[0].source.git.auth.token_env: \"1X\" is not an environment variable name"},
		{"token and password", `{url: "https://git.example.com/x.git", ref: main, auth: {token_env: A, password_env: B, username: u}}`, "workspaces[0].source.git.auth.token_env: set token_env or password_env, not both"},
		{"password without user", `{url: "https://git.example.com/x.git", ref: main, auth: {password_env: B}}`, "workspaces[0].source.git.auth.username: required with password_env"},
		{"token on ssh", `{url: "ssh://git@h/x.git", ref: main, auth: {token_env: A}}`, "workspaces[0].source.git.auth: a token or password authenticates HTTPS URLs"},
		{"key on https", `{url: "https://h/x.git", ref: main, auth: {ssh_key_env: A, known_hosts_env: B}}`, "workspaces[0].source.git.auth.ssh_key_env: an SSH key authenticates SSH URLs"},
		{"ssh without key", `{url: "ssh://git@h/x.git", ref: main}`, "workspaces[0].source.git.auth.ssh_key_env: required for an SSH URL"},
		{"ssh without known_hosts", `{url: "ssh://git@h/x.git", ref: main, auth: {ssh_key_env: A}}`, "workspaces[0].source.git.auth.known_hosts_env: required for an SSH URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Parse("d.yaml", []byte(sourceConfig(c.git)))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") || strings.Contains(msg, canary) {
				t.Fatalf("error %q\nwant one line containing %q, without the secret", msg, c.want)
			}
			if !strings.HasPrefix(msg, "d.yaml:") {
				t.Errorf("error %q does not name the file and line", msg)
			}
		})
	}
	both := "clusters: [{name: lab}]\nworkspaces:\n  - name: platform\n    dir: x\n    source: {git: {url: \"https://h/x.git\", ref: main}}\n"
	if _, err := config.Parse("d.yaml", []byte(both)); err == nil || !strings.Contains(err.Error(), "workspaces[0].source: set dir or source, not both") {
		t.Errorf("dir and source: %v", err)
	}
	neither := "clusters: [{name: lab}]\nworkspaces:\n  - name: platform\n"
	if _, err := config.Parse("d.yaml", []byte(neither)); err == nil || !strings.Contains(err.Error(), "workspaces[0]: dir or source is required") {
		t.Errorf("neither: %v", err)
	}
}

// TestDesignSketchParses: the config sketch in docs/design.md is a config
// driftgate accepts, Git source included.
func TestDesignSketchParses(t *testing.T) {
	b, err := os.ReadFile("../../docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "### Config (sketch")
	if i < 0 {
		t.Fatal("no config sketch in docs/design.md")
	}
	start := strings.Index(doc[i:], "```yaml\n")
	end := strings.Index(doc[i+start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the sketch is not a yaml block")
	}
	f, err := config.Parse("docs/design.md", []byte(doc[i+start+8:i+start+8+end]))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := f.Workspace("platform")
	if err != nil || ws.Git() == nil || ws.Git().WebhookSecretEnv == "" {
		t.Fatalf("the sketch's Git workspace: %+v %v", ws, err)
	}
}
