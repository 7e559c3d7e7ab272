// Package natslab runs the real nats-server of the lab's tools cache for
// tests: one node or a JetStream cluster on loopback, every node with the
// shipped deploy/nats/accounts.conf (one user per service), each user's
// password generated per run. Nodes can be killed (SIGKILL), stopped and
// started again on the same ports and store, which is what the fault suite
// (test/chaos) does to them.
package natslab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/test/lab"
)

// Users are the users of deploy/nats/accounts.conf; each password comes
// from DRIFTGATE_NATS_<USER>_PASSWORD in the server's environment.
var Users = []string{"admin", "watcher", "planner", "importer", "notifier", "approver", "reader", "console"}

// SyncBuffer is a bytes.Buffer a process writes while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Cluster is one or more nats-server processes sharing the accounts file.
type Cluster struct {
	Nodes     []*Node
	Passwords map[string]string // user → password
	bin       string
	env       []string
}

// Node is one nats-server process; its ports and store survive restarts.
type Node struct {
	Name    string
	URL     string // nats://127.0.0.1:PORT
	Monitor string // http://127.0.0.1:PORT (/jsz, /healthz)
	Log     *SyncBuffer
	conf    string
	c       *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs n nodes (n 1: a single server; n ≥ 2: a JetStream cluster with
// routes between all nodes) with accountsConf included, and waits until
// admin can use JetStream on every node. Cleanup stops them.
func Start(t testing.TB, n int, accountsConf string) *Cluster {
	t.Helper()
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatalf("nats-server not found (make tools builds it): %v", err)
	}
	if err := tools.Check(tools.NATSServer); err != nil {
		t.Fatalf("the real nats-server is missing (make tools builds it): %v", err)
	}
	shipped, err := os.ReadFile(accountsConf)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "accounts.conf"), shipped, 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Passwords: map[string]string{}, bin: tools.NATSServer, env: os.Environ()}
	for _, u := range Users {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		// nats-server parses a variable's value as a config value: a password
		// of digits and hex letters can read as a number, so it starts with a letter.
		c.Passwords[u] = "pw-" + hex.EncodeToString(b)
		c.env = append(c.env, fmt.Sprintf("DRIFTGATE_NATS_%s_PASSWORD=%s", strings.ToUpper(u), c.Passwords[u]))
	}
	type ports struct{ client, route, mon int }
	ps := make([]ports, n)
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t), freePort(t)}
	}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		var conf strings.Builder
		fmt.Fprintf(&conf, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", name, ps[i].client, ps[i].mon)
		fmt.Fprintf(&conf, "jetstream { store_dir: %q }\n", filepath.Join(dir, name, "js"))
		if n > 1 {
			var routes []string
			for j := range n {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ps[j].route))
				}
			}
			fmt.Fprintf(&conf, "cluster { name: driftgate, listen: 127.0.0.1:%d, routes: [%s] }\n", ps[i].route, strings.Join(routes, ", "))
		}
		conf.WriteString("include ../accounts.conf\n")
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		nd := &Node{Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", ps[i].client),
			Monitor: fmt.Sprintf("http://127.0.0.1:%d", ps[i].mon), Log: &SyncBuffer{},
			conf: filepath.Join(dir, name, "server.conf"), c: c}
		if err := os.WriteFile(nd.conf, []byte(conf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.Stop()
			if t.Failed() {
				s := nd.Log.String()
				t.Logf("nats-server %s log (tail):\n%s", nd.Name, s[max(0, len(s)-4000):])
			}
		}
	})
	for _, nd := range c.Nodes {
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// URLs returns every node's client URL, comma-separated (a client's pool).
func (c *Cluster) URLs() string {
	var u []string
	for _, nd := range c.Nodes {
		u = append(u, nd.URL)
	}
	return strings.Join(u, ",")
}

// Env returns the DRIFTGATE_NATS_<USER>_PASSWORD variables.
func (c *Cluster) Env() []string { return c.env }

// Start starts the node's process (again, after Stop or Kill).
func (nd *Node) Start() error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd != nil {
		select {
		case <-nd.exited:
		default:
			return fmt.Errorf("nats-server %s is running", nd.Name)
		}
	}
	cmd := exec.Command(nd.c.bin, "-c", nd.conf)
	cmd.Dir = filepath.Dir(nd.conf)
	cmd.Env = nd.c.env
	cmd.Stdout, cmd.Stderr = nd.Log, nd.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nats-server %s: %w", nd.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	nd.cmd, nd.exited = cmd, exited
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (nd *Node) Kill() { nd.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (lame duck is not waited for) and waits, then SIGKILL
// after 30s.
func (nd *Node) Stop() { nd.signal(syscall.SIGTERM) }

func (nd *Node) signal(sig syscall.Signal) {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Running reports whether the node's process runs.
func (nd *Node) Running() bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.cmd == nil {
		return false
	}
	select {
	case <-nd.exited: // it exited by itself (a port in use, a bad store)
		return false
	default:
		return true
	}
}

// Jsz is the part of a node's /jsz this package reads.
type Jsz struct {
	Meta *struct {
		Leader   string `json:"leader"`
		Size     int    `json:"cluster_size"`
		Pending  int    `json:"pending"`
		Replicas []struct {
			Name    string `json:"name"`
			Current bool   `json:"current"`
			Offline bool   `json:"offline"`
		} `json:"replicas"`
	} `json:"meta_cluster"`
}

// Jsz reads the node's /jsz.
func (nd *Node) Jsz(ctx context.Context) (*Jsz, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nd.Monitor+"/jsz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var j Jsz
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		return nil, fmt.Errorf("%s /jsz: %w", nd.Name, err)
	}
	return &j, nil
}

// healthy is /healthz?js-enabled-only... a node is ready when /healthz says ok.
func (nd *Node) healthy(ctx context.Context) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nd.Monitor+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// MetaLeader returns the node that leads the JetStream meta group, as any
// running node reports it; "" while there is none.
func (c *Cluster) MetaLeader(ctx context.Context) *Node {
	for _, nd := range c.Nodes {
		if !nd.Running() {
			continue
		}
		j, err := nd.Jsz(ctx)
		if err != nil || j.Meta == nil {
			continue
		}
		return c.Node(j.Meta.Leader)
	}
	return nil
}

// metaCurrent reports whether the meta group has a leader that sees every
// running node as a current peer. A leader alone is not enough: a stream at
// replicas 3 created before the leader has heard from every peer is refused
// with "no suitable peers for placement".
func (c *Cluster) metaCurrent(ctx context.Context) bool {
	leader := c.MetaLeader(ctx)
	if leader == nil || !leader.Running() {
		return false
	}
	j, err := leader.Jsz(ctx)
	if err != nil || j.Meta == nil || j.Meta.Leader != leader.Name {
		return false
	}
	current := map[string]bool{leader.Name: true}
	for _, r := range j.Meta.Replicas {
		if r.Current && !r.Offline {
			current[r.Name] = true
		}
	}
	for _, nd := range c.Nodes {
		if nd.Running() && !current[nd.Name] {
			return false
		}
	}
	return true
}

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, nd := range c.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// WaitReady waits until every running node answers /healthz with ok (its
// JetStream is current) and, in a cluster, a meta leader is elected that
// sees every running node as a current peer.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		ready := true
		for _, nd := range c.Nodes {
			if nd.Running() && !nd.healthy(ctx) {
				ready = false
			}
		}
		if ready && (len(c.Nodes) == 1 || c.metaCurrent(ctx)) {
			return nil
		}
		select {
		case <-ctx.Done():
			var logs []string
			for _, nd := range c.Nodes {
				s := nd.Log.String()
				logs = append(logs, nd.Name+":\n"+s[max(0, len(s)-2000):])
			}
			return fmt.Errorf("nats cluster not ready: %w\n%s", ctx.Err(), strings.Join(logs, "\n"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Conn is one user's connection and the permission violations the server
// reported on it.
type Conn struct {
	NC         *nats.Conn
	JS         jetstream.JetStream
	Violations chan string
}

// Connect connects as user to urls (comma-separated) and closes at cleanup;
// it reconnects forever (the cluster's nodes come and go).
func Connect(t testing.TB, urls, user, password string) *Conn {
	t.Helper()
	pc := &Conn{Violations: make(chan string, 64)}
	nc, err := nats.Connect(urls, nats.UserInfo(user, password), nats.Name("lab-"+user), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) || strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				select {
				case pc.Violations <- err.Error():
				default:
				}
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	pc.NC = nc
	if pc.JS, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return pc
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
