package source

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/internal/fsx"
)

// Checkout is one commit of a repository, complete on disk.
type Checkout struct {
	Commit  string // full SHA
	Dir     string // the repository's root at Commit
	Subject string // first line of the commit message
	When    time.Time
}

// Fetcher fetches one repository into a directory of its own. Its methods
// are safe for concurrent use; one fetch runs at a time.
type Fetcher struct {
	rawURL, safeURL string
	kind            string
	auth            Auth
	method          transport.AuthMethod
	dir             string
	log             *slog.Logger
	// KeepCheckouts is how many checkouts stay on disk besides those in use
	// (Prune).
	mu   sync.Mutex
	repo *git.Repository
}

// NewFetcher prepares a fetcher of url under root (root/<name of url>/);
// it touches the network on the first Resolve or Fetch.
func NewFetcher(root, rawURL string, auth Auth, log *slog.Logger) (*Fetcher, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kind := config.GitURLKind(rawURL)
	if kind == "" {
		return nil, fmt.Errorf("source: %q is not a Git URL", SafeURL(rawURL))
	}
	f := &Fetcher{rawURL: rawURL, safeURL: SafeURL(rawURL), kind: kind, auth: auth,
		dir: filepath.Join(root, dirName(rawURL)), log: log}
	f.log = log.With("repository", f.safeURL)
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	var sshUser string
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		sshUser = u.User.Username()
	} else if i := strings.Index(rawURL, "@"); kind == "ssh" && i > 0 && !strings.Contains(rawURL[:i], "/") {
		sshUser = rawURL[:i]
	}
	m, err := auth.method(kind, sshUser, f.dir)
	if err != nil {
		return nil, &Error{Kind: KindAuth, URL: f.safeURL, Msg: f.redact(err.Error())}
	}
	f.method = m
	return f, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// dirName is a readable, unique directory name for a URL.
func dirName(raw string) string {
	h := sha256.Sum256([]byte(raw))
	n := SafeURL(raw)
	n = strings.TrimSuffix(n[strings.Index(n, ":")+1:], ".git")
	n = strings.Trim(unsafeName.ReplaceAllString(n, "_"), "_.")
	if len(n) > 60 {
		n = n[len(n)-60:]
	}
	return n + "-" + hex.EncodeToString(h[:4])
}

// URL is the repository's URL without credentials.
func (f *Fetcher) URL() string { return f.safeURL }

func (f *Fetcher) checkoutsDir() string { return filepath.Join(f.dir, "checkouts") }

// CheckoutDir is where a commit's checkout is (whether or not it exists).
func (f *Fetcher) CheckoutDir(commit string) string {
	return filepath.Join(f.checkoutsDir(), commit)
}

// Resolve asks the remote which commit ref names (a branch, a tag — peeled
// to its commit — or, for a full SHA, the SHA itself).
func (f *Fetcher) Resolve(ctx context.Context, ref string) (string, error) {
	if config.IsCommit(ref) {
		return ref, nil
	}
	rem := git.NewRemote(nil, &gitconfig.RemoteConfig{Name: "origin", URLs: []string{f.rawURL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: f.method, PeelingOption: git.AppendPeeled})
	if err != nil {
		return "", f.classify(ref, err)
	}
	byName := map[string]string{}
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			byName[r.Name().String()] = r.Hash().String()
		}
	}
	for _, n := range []string{"refs/heads/" + ref, "refs/tags/" + ref + "^{}", "refs/tags/" + ref, ref} {
		if h, ok := byName[n]; ok {
			return h, nil
		}
	}
	return "", &Error{Kind: KindRef, URL: f.safeURL, Ref: ref, Msg: "no branch or tag of that name in the repository"}
}

// Fetch resolves ref and makes its commit's checkout complete on disk.
func (f *Fetcher) Fetch(ctx context.Context, ref string) (Checkout, error) {
	commit, err := f.Resolve(ctx, ref)
	if err != nil {
		return Checkout{}, err
	}
	return f.Checkout(ctx, ref, commit)
}

// Checkout makes the checkout of commit (reachable from ref) complete on
// disk, fetching it when it is not there yet. An existing checkout is
// returned as it is: checkouts are written once, under their commit.
func (f *Fetcher) Checkout(ctx context.Context, ref, commit string) (Checkout, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !config.IsCommit(commit) {
		return Checkout{}, &Error{Kind: KindRef, URL: f.safeURL, Ref: ref, Msg: fmt.Sprintf("%q is not a commit SHA", commit)}
	}
	dir := f.CheckoutDir(commit)
	if c, err := readMeta(dir); err == nil {
		return c, nil
	}
	if _, err := f.open(); err != nil {
		return Checkout{}, err
	}
	h := plumbing.NewHash(commit)
	if _, err := f.repo.CommitObject(h); err != nil {
		if err := f.fetch(ctx, ref, commit); err != nil {
			return Checkout{}, err
		}
	}
	c, err := f.repo.CommitObject(h)
	if err != nil {
		return Checkout{}, &Error{Kind: KindRef, URL: f.safeURL, Ref: ref, Msg: fmt.Sprintf("commit %s is not in the repository", commit)}
	}
	return f.writeCheckout(c, dir, ref)
}

// open opens (or creates) the bare repository.
func (f *Fetcher) open() (*git.Repository, error) {
	if f.repo != nil {
		return f.repo, nil
	}
	p := filepath.Join(f.dir, "repo.git")
	repo, err := git.PlainOpen(p)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(p, true)
	}
	if err != nil {
		_ = os.RemoveAll(p)
		if repo, err = git.PlainInit(p, true); err != nil {
			return nil, &Error{Kind: KindCheckout, URL: f.safeURL, Msg: f.redact("open the local repository: " + err.Error())}
		}
	}
	if _, err := repo.Remote("origin"); errors.Is(err, git.ErrRemoteNotFound) {
		_, err = repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{f.rawURL},
			Fetch: []gitconfig.RefSpec{"+refs/heads/*:refs/driftgate/heads/*"}})
		if err != nil {
			return nil, &Error{Kind: KindCheckout, URL: f.safeURL, Msg: f.redact("configure the local repository: " + err.Error())}
		}
	}
	f.repo = repo
	return repo, nil
}

// fetch brings commit into the local repository: shallow (depth 1) by
// SHA, else shallow by the ref's name; when neither brings it (a server
// that refuses SHAs, a commit that is no longer the tip) the whole history
// is fetched into a fresh repository.
func (f *Fetcher) fetch(ctx context.Context, ref, commit string) error {
	h := plumbing.NewHash(commit)
	have := func() bool {
		_, err := f.repo.CommitObject(h)
		return err == nil
	}
	try := func(depth int, specs ...gitconfig.RefSpec) error {
		err := f.repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin", RefSpecs: specs, Depth: depth, Auth: f.method, Force: true, Tags: git.NoTags,
		})
		if errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil
		}
		return err
	}
	start := time.Now()
	done := func(how string) error {
		f.log.Info("fetched", "ref", ref, "commit", commit, "how", how, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	err := try(1, gitconfig.RefSpec(commit+":refs/driftgate/commits/"+commit))
	switch {
	case err == nil && have():
		return done("shallow by commit")
	case err != nil && !refused(err):
		return f.classify(ref, err)
	}
	if !config.IsCommit(ref) {
		err := try(1, gitconfig.RefSpec("+refs/heads/"+ref+":refs/driftgate/heads/"+ref))
		var noMatch git.NoMatchingRefSpecError
		if errors.As(err, &noMatch) {
			err = try(1, gitconfig.RefSpec("+refs/tags/"+ref+":refs/driftgate/tags/"+ref))
		}
		switch {
		case err == nil && have():
			return done("shallow by ref")
		case err != nil && !refused(err) && !errors.As(err, &noMatch):
			return f.classify(ref, err)
		}
	}
	// A shallow repository cannot be deepened reliably: start over.
	f.repo = nil
	if err := os.RemoveAll(filepath.Join(f.dir, "repo.git")); err != nil {
		return &Error{Kind: KindCheckout, URL: f.safeURL, Ref: ref, Msg: f.redact(err.Error())}
	}
	if _, err := f.open(); err != nil {
		return err
	}
	if err := try(0, "+refs/heads/*:refs/driftgate/heads/*", "+refs/tags/*:refs/driftgate/tags/*"); err != nil {
		return f.classify(ref, err)
	}
	if !have() {
		return &Error{Kind: KindRef, URL: f.safeURL, Ref: ref, Msg: fmt.Sprintf("commit %s is not in the repository", commit)}
	}
	return done("full history")
}

// refused: the server would not send that commit by SHA, or has no such
// ref.
func refused(err error) bool {
	var noMatch git.NoMatchingRefSpecError
	return errors.Is(err, git.ErrExactSHA1NotSupported) || errors.As(err, &noMatch) ||
		strings.Contains(err.Error(), "not our ref")
}

const metaFile = ".driftgate-checkout"

// writeCheckout writes c's tree into a temporary directory and renames it
// to dir: the checkout appears whole or not at all.
func (f *Fetcher) writeCheckout(c *object.Commit, dir, ref string) (Checkout, error) {
	fail := func(err error) (Checkout, error) {
		return Checkout{}, &Error{Kind: KindCheckout, URL: f.safeURL, Ref: ref, Msg: f.redact("check out " + c.Hash.String() + ": " + err.Error())}
	}
	tree, err := c.Tree()
	if err != nil {
		return fail(err)
	}
	tmp := filepath.Join(f.dir, "tmp", c.Hash.String()+"-"+randomSuffix())
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(tmp)
	err = tree.Files().ForEach(func(file *object.File) error {
		if !filepath.IsLocal(file.Name) {
			return fmt.Errorf("file %q is outside the repository", file.Name)
		}
		target := filepath.Join(tmp, filepath.FromSlash(file.Name))
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return err
		}
		switch file.Mode {
		case filemode.Symlink:
			link, err := file.Contents()
			if err != nil {
				return err
			}
			// Only links that stay inside the repository: a link out of
			// it would copy a file of this host into the module.
			if resolved := path.Join(path.Dir(file.Name), link); path.IsAbs(link) || !filepath.IsLocal(filepath.FromSlash(resolved)) {
				f.log.Warn("symlink out of the repository not checked out", "file", file.Name)
				return nil
			}
			return os.Symlink(link, target)
		case filemode.Submodule:
			return nil
		}
		mode := os.FileMode(0o600)
		if file.Mode == filemode.Executable {
			mode = 0o700
		}
		r, err := file.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, r); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		return fail(err)
	}
	co := Checkout{Commit: c.Hash.String(), Subject: firstLine(c.Message), When: c.Committer.When.UTC()}
	if err := writeMeta(tmp, co); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(f.checkoutsDir(), 0o700); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, merr := readMeta(dir); merr == nil {
			return readMeta(dir) // written meanwhile by another process
		}
		return fail(err)
	}
	co.Dir = dir
	f.log.Info("checked out", "commit", co.Commit, "ref", ref)
	return co, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func writeMeta(dir string, c Checkout) error {
	return os.WriteFile(filepath.Join(dir, metaFile), []byte(c.Commit+"\n"+c.When.Format(time.RFC3339)+"\n"+c.Subject+"\n"), 0o600)
}

func readMeta(dir string) (Checkout, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if err != nil {
		return Checkout{}, err
	}
	parts := strings.SplitN(string(b), "\n", 3)
	if len(parts) < 3 {
		return Checkout{}, fmt.Errorf("checkout %s: bad %s", dir, metaFile)
	}
	when, _ := time.Parse(time.RFC3339, parts[1])
	return Checkout{Commit: parts[0], Dir: dir, When: when, Subject: strings.TrimSuffix(parts[2], "\n")}, nil
}

// Prune removes the checkouts not in keep.
func (f *Fetcher) Prune(keep ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fsx.RemoveExcept(f.checkoutsDir(), keep, false)
}

// Checkouts lists the commits checked out on disk, sorted.
func (f *Fetcher) Checkouts() []string {
	entries, _ := os.ReadDir(f.checkoutsDir())
	var out []string
	for _, e := range entries {
		if _, err := readMeta(filepath.Join(f.checkoutsDir(), e.Name())); err == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// ModuleDir is the root module's directory in a checkout: the configured
// path, which must exist in the commit.
func ModuleDir(c Checkout, sub string) (string, error) {
	d := c.Dir
	if sub != "" && sub != "." {
		d = filepath.Join(c.Dir, filepath.FromSlash(path.Clean(sub)))
	}
	st, err := os.Stat(d)
	if err != nil || !st.IsDir() {
		return "", &Error{Kind: KindPath, Msg: fmt.Sprintf("path %q is not a directory at commit %s", sub, c.Commit)}
	}
	return d, nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
