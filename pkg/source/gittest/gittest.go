// Package gittest is a real Git server for tests: Debian's git
// http-backend (smart HTTP) behind Go's net/http/cgi on loopback, with a
// token check, and a working clone to commit and push from with the git
// command line. Tests need git installed (apt-get install -y git).
package gittest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server is a Git repository served over smart HTTP.
type Server struct {
	// URL of the repository (http://127.0.0.1:PORT/repo.git).
	URL        string
	root, work string
	token      atomic.Pointer[string]
	srv        *httptest.Server
	uploads    atomic.Int64 // git-upload-pack POSTs: fetches that download
	lists      atomic.Int64 // info/refs GETs: ls-remote and fetch starts
	denied     atomic.Int64
}

// New starts a server with an empty repository whose default branch is
// main; it stops with the test.
func New(t testing.TB, token string) *Server {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("gittest: git is not installed (apt-get install -y git): %v", err)
	}
	execPath := strings.TrimSpace(run(t, "", gitBin, "--exec-path"))
	backend := filepath.Join(execPath, "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("gittest: %s: %v", backend, err)
	}
	s := &Server{root: t.TempDir(), work: t.TempDir()}
	s.SetToken(token)
	bare := filepath.Join(s.root, "repo.git")
	run(t, "", gitBin, "init", "--quiet", "--bare", "-b", "main", bare)
	run(t, bare, gitBin, "config", "uploadpack.allowReachableSHA1InWant", "true")
	run(t, bare, gitBin, "config", "http.receivepack", "false")
	run(t, "", gitBin, "init", "--quiet", "-b", "main", s.work)
	run(t, s.work, gitBin, "config", "user.name", "gittest")
	run(t, s.work, gitBin, "config", "user.email", "gittest@example.invalid")
	run(t, s.work, gitBin, "remote", "add", "origin", bare)
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1"}, Stderr: io.Discard}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.Token(); tok != "" {
			_, pw, ok := r.BasicAuth()
			if !ok || pw != tok {
				s.denied.Add(1)
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			s.uploads.Add(1)
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			s.lists.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL + "/repo.git"
	return s
}

// Token is the password every request must carry (basic auth, any user);
// empty: no auth.
func (s *Server) Token() string { return *s.token.Load() }

// SetToken changes the token the server accepts (a rotation).
func (s *Server) SetToken(tok string) { s.token.Store(&tok) }

// Close stops the server (the URL becomes unreachable).
func (s *Server) Close() { s.srv.Close() }

// Uploads counts the fetches that downloaded objects.
func (s *Server) Uploads() int64 { return s.uploads.Load() }

// Lists counts the ref advertisements served (ls-remote, fetch starts).
func (s *Server) Lists() int64 { return s.lists.Load() }

// Denied counts requests refused for a missing or wrong token.
func (s *Server) Denied() int64 { return s.denied.Load() }

// Commit writes files (path → content; nil content deletes the file) in
// the working clone, commits them on branch and pushes; it returns the
// commit's SHA.
func (s *Server) Commit(t testing.TB, branch, msg string, files map[string]*string) string {
	t.Helper()
	cur := strings.TrimSpace(run(t, s.work, "git", "symbolic-ref", "--short", "HEAD"))
	switch {
	case cur == branch:
	case strings.TrimSpace(run(t, s.work, "git", "branch", "--list", branch)) != "":
		run(t, s.work, "git", "checkout", "--quiet", branch)
	default:
		run(t, s.work, "git", "checkout", "--quiet", "-b", branch)
	}
	for p, c := range files {
		full := filepath.Join(s.work, filepath.FromSlash(p))
		if c == nil {
			run(t, s.work, "git", "rm", "--quiet", "-r", "--", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(*c), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, s.work, "git", "add", "--", p)
	}
	run(t, s.work, "git", "commit", "--quiet", "--allow-empty", "-m", msg)
	run(t, s.work, "git", "push", "--quiet", "origin", branch)
	return strings.TrimSpace(run(t, s.work, "git", "rev-parse", "HEAD"))
}

// Tag creates an annotated tag at HEAD of the working clone and pushes it.
func (s *Server) Tag(t testing.TB, name string) {
	t.Helper()
	run(t, s.work, "git", "tag", "-a", "-m", name, name)
	run(t, s.work, "git", "push", "--quiet", "origin", name)
}

// CopyDir commits every file under dir into the repository at prefix.
func (s *Server) CopyDir(t testing.TB, dir, prefix string) map[string]*string {
	t.Helper()
	files := map[string]*string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && (d.Name() == ".terraform" || d.Name() == ".git") {
				return filepath.SkipDir
			}
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasSuffix(rel, ".tfstate") || strings.HasSuffix(rel, ".tfplan") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		c := string(b)
		files[filepath.ToSlash(filepath.Join(prefix, rel))] = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Text is a helper for Commit's file map.
func Text(s string) *string { return &s }

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "HOME="+os.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("gittest: %s %s: %v: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}
