package source_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/pkg/source/gittest"
)

// canary is the repository token: it must appear in no error.
const canary = "tok-CANARY-5f1e2d3c4b"

func newFetcher(t *testing.T, url, token string) *source.Fetcher {
	t.Helper()
	f, err := source.NewFetcher(t.TempDir(), url, source.Auth{Username: "bot", Password: token}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFetchFollowsTheRef: a branch, an annotated tag and a commit SHA are
// checked out whole under their commit; a poll that finds nothing new
// downloads nothing; a new commit is a new checkout beside the old one.
func TestFetchFollowsTheRef(t *testing.T) {
	srv := gittest.New(t, canary)
	ctx := context.Background()
	c1 := srv.Commit(t, "main", "first", map[string]*string{
		"infra/k8s/main.tf": gittest.Text("# one\n"), "README.md": gittest.Text("hello\n")})
	srv.Tag(t, "v1")
	f := newFetcher(t, srv.URL, canary)

	co, err := f.Fetch(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != c1 || co.Subject != "first" {
		t.Fatalf("checkout %+v, want commit %s", co, c1)
	}
	dir, err := source.ModuleDir(co, "infra/k8s")
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(dir, "main.tf")); got != "# one\n" {
		t.Fatalf("main.tf = %q", got)
	}
	uploads := srv.Uploads()
	if again, err := f.Fetch(ctx, "main"); err != nil || again.Commit != c1 || srv.Uploads() != uploads {
		t.Fatalf("second poll: %+v %v; uploads %d → %d (nothing new must download nothing)", again, err, uploads, srv.Uploads())
	}

	c2 := srv.Commit(t, "main", "second", map[string]*string{"infra/k8s/main.tf": gittest.Text("# two\n")})
	co2, err := f.Fetch(ctx, "main")
	if err != nil || co2.Commit != c2 {
		t.Fatalf("after a push: %+v %v, want %s", co2, err, c2)
	}
	if got := read(t, filepath.Join(co2.Dir, "infra/k8s/main.tf")); got != "# two\n" {
		t.Fatalf("main.tf at %s = %q", c2, got)
	}
	if got := read(t, filepath.Join(co.Dir, "infra/k8s/main.tf")); got != "# one\n" {
		t.Fatalf("the old checkout changed: %q", got)
	}
	if _, err := source.ModuleDir(co2, "nope"); source.KindOf(err) != source.KindPath {
		t.Fatalf("missing path: %v", err)
	}

	// An annotated tag peels to its commit; a commit SHA that is no
	// longer the tip is fetched by SHA.
	tf := newFetcher(t, srv.URL, canary)
	if co, err := tf.Fetch(ctx, "v1"); err != nil || co.Commit != c1 {
		t.Fatalf("tag v1: %+v %v, want %s", co, err, c1)
	}
	sf := newFetcher(t, srv.URL, canary)
	if co, err := sf.Fetch(ctx, c1); err != nil || co.Commit != c1 || read(t, filepath.Join(co.Dir, "README.md")) != "hello\n" {
		t.Fatalf("commit %s: %+v %v", c1, co, err)
	}
	if got := f.Checkouts(); len(got) != 2 {
		t.Fatalf("checkouts %v, want both commits", got)
	}
	if err := f.Prune(c2); err != nil || len(f.Checkouts()) != 1 {
		t.Fatalf("prune: %v %v", err, f.Checkouts())
	}
}

// TestFetchFailuresAreClearAndSecretFree: a wrong token, an unknown ref and
// an unreachable host are each one error of their kind, naming the
// repository and ref, never the token.
func TestFetchFailuresAreClearAndSecretFree(t *testing.T) {
	srv := gittest.New(t, canary)
	srv.Commit(t, "main", "first", map[string]*string{"main.tf": gittest.Text("# one\n")})
	ctx := context.Background()

	wrong := canary + "-wrong"
	gone := gittest.New(t, canary)
	gone.Close()
	cases := []struct {
		name, url, token, ref string
		kind                  source.Kind
		want                  string
	}{
		{"wrong token", srv.URL, wrong, "main", source.KindAuth, "authentication failed"},
		{"no token", srv.URL, "", "main", source.KindAuth, "authentication failed"},
		{"unknown ref", srv.URL, canary, "no-such-branch", source.KindRef, "no branch or tag of that name"},
		{"unknown commit", srv.URL, canary, strings.Repeat("ab", 20), source.KindRef, "is not in the repository"},
		{"unreachable", gone.URL, canary, "main", source.KindUnreachable, "unreachable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFetcher(t, c.url, c.token)
			_, err := f.Fetch(ctx, c.ref)
			if err == nil {
				t.Fatal("fetched")
			}
			msg := err.Error()
			if source.KindOf(err) != c.kind || !strings.Contains(msg, c.want) || !strings.Contains(msg, c.url) || !strings.Contains(msg, c.ref) {
				t.Fatalf("error %q (kind %q), want kind %s containing %q, the URL and the ref", msg, source.KindOf(err), c.kind, c.want)
			}
			if !errors.Is(err, source.ErrKind(c.kind)) {
				t.Errorf("errors.Is(err, ErrKind(%s)) is false", c.kind)
			}
			if strings.Contains(msg, canary) || strings.Contains(msg, "CANARY") {
				t.Fatalf("the token leaked: %q", msg)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("not one line: %q", msg)
			}
			if len(f.Checkouts()) != 0 {
				t.Errorf("a failed fetch left checkouts: %v", f.Checkouts())
			}
		})
	}
}

// TestTrackerKeepsTheLastGoodRevision: the record follows new commits; a
// failure (wrong token, removed path) keeps the last good revision in use
// and in the record, with the failure noted and no secret; a restarted
// tracker resumes at the recorded revision even when the remote is down.
func TestTrackerKeepsTheLastGoodRevision(t *testing.T) {
	env := eventstest.Start(t)
	srv := gittest.New(t, canary)
	ctx := context.Background()
	c1 := srv.Commit(t, "main", "first", map[string]*string{"k8s/main.tf": gittest.Text("# one\n")})
	g := config.GitSource{URL: srv.URL, Ref: "main", Path: "k8s", Interval: config.Duration{Duration: time.Minute}}
	data := t.TempDir()
	f, err := source.NewFetcher(data, srv.URL, source.Auth{Username: "bot", Password: canary}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := source.NewTracker("platform", g, f, env.Buckets.State)
	rev, changed, err := tr.Update(ctx)
	if err != nil || !changed || rev.Commit != c1 || rev.Previous != "" {
		t.Fatalf("first update: %+v %v %v", rev, changed, err)
	}
	if _, changed, err := tr.Update(ctx); err != nil || changed {
		t.Fatalf("update without a push: changed=%v %v", changed, err)
	}
	c2 := srv.Commit(t, "main", "second", map[string]*string{"k8s/main.tf": gittest.Text("# two\n")})
	rev, changed, err = tr.Update(ctx)
	if err != nil || !changed || rev.Commit != c2 || rev.Previous != c1 {
		t.Fatalf("after a push: %+v %v %v", rev, changed, err)
	}
	rec, err := source.GetRevision(ctx, env.Buckets.State, "platform")
	if err != nil || rec == nil || rec.Commit != c2 || rec.Previous != c1 || rec.URL != srv.URL || rec.Path != "k8s" {
		t.Fatalf("record %+v %v", rec, err)
	}

	// A commit without the path: the last good revision stays.
	srv.Commit(t, "main", "move", map[string]*string{"k8s/main.tf": nil, "other/main.tf": gittest.Text("# x\n")})
	if _, _, err := tr.Update(ctx); source.KindOf(err) != source.KindPath {
		t.Fatalf("path gone: %v", err)
	}
	cur, dir := tr.Current()
	if cur.Commit != c2 || read(t, filepath.Join(dir, "main.tf")) != "# two\n" {
		t.Fatalf("current after a failure: %+v %s", cur, dir)
	}
	rec, _ = source.GetRevision(ctx, env.Buckets.State, "platform")
	if rec.Commit != c2 || rec.FailureKind != source.KindPath || rec.Failure == "" || rec.FailedSince.IsZero() {
		t.Fatalf("record after a failure: %+v", rec)
	}

	// The importer follows the record, from its own data dir.
	imp, err := source.NewFetcher(t.TempDir(), srv.URL, source.Auth{Username: "bot", Password: canary}, nil)
	if err != nil {
		t.Fatal(err)
	}
	frev, fdir, err := source.Follow(ctx, env.Buckets.State, imp, "platform", g)
	if err != nil || frev.Commit != c2 || read(t, filepath.Join(fdir, "main.tf")) != "# two\n" {
		t.Fatalf("follow: %+v %s %v", frev, fdir, err)
	}

	// A restart while the remote is down resumes at the recorded commit.
	srv.Close()
	f2, err := source.NewFetcher(data, srv.URL, source.Auth{Username: "bot", Password: canary}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr2 := source.NewTracker("platform", g, f2, env.Buckets.State)
	_, _, err = tr2.Update(ctx)
	if source.KindOf(err) != source.KindUnreachable || strings.Contains(err.Error(), canary) {
		t.Fatalf("update with the remote down: %v", err)
	}
	if cur, dir := tr2.Current(); cur == nil || cur.Commit != c2 || read(t, filepath.Join(dir, "main.tf")) != "# two\n" {
		t.Fatalf("resumed at %+v %s, want %s", cur, dir, c2)
	}
	rec, _ = source.GetRevision(ctx, env.Buckets.State, "platform")
	if rec.FailureKind != source.KindUnreachable || strings.Contains(rec.Failure, canary) {
		t.Fatalf("record with the remote down: %+v", rec)
	}
}

func TestAuthFromConfig(t *testing.T) {
	env := map[string]string{"TOK": canary, "PW": "pw-secret"}
	get := func(k string) string { return env[k] }
	a, err := source.AuthFromConfig(config.GitAuth{TokenEnv: "TOK"}, get)
	if err != nil || a.Username != source.DefaultTokenUser || a.Password != canary {
		t.Fatalf("token: %+v %v", a, err)
	}
	a, err = source.AuthFromConfig(config.GitAuth{Username: "ci", PasswordEnv: "PW"}, get)
	if err != nil || a.Username != "ci" || a.Password != "pw-secret" {
		t.Fatalf("basic: %+v %v", a, err)
	}
	if _, err := source.AuthFromConfig(config.GitAuth{TokenEnv: "UNSET"}, get); err == nil || !strings.Contains(err.Error(), "auth.token_env: environment variable UNSET is empty") {
		t.Fatalf("unset: %v", err)
	}
	// An SSH key that does not parse is an auth error that does not quote it.
	_, err = source.NewFetcher(t.TempDir(), "ssh://git@127.0.0.1/x.git", source.Auth{SSHKey: []byte("not a key " + canary), KnownHosts: []byte("x")}, nil)
	if source.KindOf(err) != source.KindAuth || strings.Contains(err.Error(), canary) {
		t.Fatalf("bad key: %v", err)
	}
}

// TestReposShareByURLAndCredentials: workspaces on one URL with the same
// credentials share a fetcher; other credentials get their own, so a fetch
// never runs with another workspace's token.
func TestReposShareByURLAndCredentials(t *testing.T) {
	env := map[string]string{"A": "tok-a", "B": "tok-b"}
	r := source.NewRepos(t.TempDir(), func(k string) string { return env[k] }, nil)
	g := func(url, tokenEnv string) *config.GitSource {
		return &config.GitSource{URL: url, Ref: "main", Auth: config.GitAuth{TokenEnv: tokenEnv}}
	}
	a1, err1 := r.For(g("https://git.example.com/x.git", "A"))
	a2, err2 := r.For(g("https://git.example.com/x.git", "A"))
	b, err3 := r.For(g("https://git.example.com/x.git", "B"))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if a1 != a2 || a1 == b || a1.CheckoutDir("c") == b.CheckoutDir("c") {
		t.Fatalf("fetchers: same credentials shared %v, other credentials apart %v", a1 == a2, a1 != b)
	}
}

// TestFetchOverSSH: a repository over SSH (the real git upload-pack behind
// an SSH server on loopback) is fetched with a key and known_hosts; a key
// the server does not know, a host key that is not the one in known_hosts
// and no known_hosts at all are each refused as auth failures, with no
// checkout and no key material in the error.
func TestFetchOverSSH(t *testing.T) {
	srv := gittest.New(t, canary)
	c1 := srv.Commit(t, "main", "first", map[string]*string{"k8s/main.tf": gittest.Text("# over ssh\n")})
	key, pemKey := sshKey(t)
	url, known := srv.SSH(t, key.PublicKey())
	other, otherPEM := sshKey(t)
	// The server's address with another key: a host key that changed.
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ssh://git@"), "/repo.git")
	wrongHost := knownhosts.Line([]string{knownhosts.Normalize(addr)}, other.PublicKey())
	ctx := context.Background()

	f, err := source.NewFetcher(t.TempDir(), url, source.Auth{SSHKey: pemKey, KnownHosts: []byte(known + "\n")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	co, err := f.Fetch(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != c1 || read(t, filepath.Join(co.Dir, "k8s/main.tf")) != "# over ssh\n" {
		t.Fatalf("checkout %+v, want %s with k8s/main.tf", co, c1)
	}

	cases := []struct {
		name string
		auth source.Auth
	}{
		{"unknown key", source.Auth{SSHKey: otherPEM, KnownHosts: []byte(known + "\n")}},
		{"wrong host key", source.Auth{SSHKey: pemKey, KnownHosts: []byte(wrongHost + "\n")}},
		{"no known_hosts", source.Auth{SSHKey: pemKey}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := source.NewFetcher(t.TempDir(), url, c.auth, nil)
			if err == nil {
				_, err = f.Fetch(ctx, "main")
			}
			if err == nil {
				t.Fatal("fetched")
			}
			msg := err.Error()
			if !strings.Contains(msg, "known_hosts") && source.KindOf(err) != source.KindAuth {
				t.Fatalf("error %q (kind %q), want an auth failure", msg, source.KindOf(err))
			}
			for _, line := range strings.Split(string(c.auth.SSHKey), "\n") {
				if len(line) > 20 && strings.Contains(msg, line) {
					t.Fatalf("key material in the error: %q", msg)
				}
			}
			if f != nil && len(f.Checkouts()) != 0 {
				t.Errorf("a failed fetch left checkouts: %v", f.Checkouts())
			}
			t.Logf("%s: %s", c.name, msg)
		})
	}
}

// sshKey makes an ed25519 client key and its OpenSSH PEM encoding.
func sshKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}
