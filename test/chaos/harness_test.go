package chaos

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
	"github.com/driftgate/driftgate/test/natslab"
)

const (
	wsName   = "marketplace"
	ns       = "chaos"
	stateKey = "chaos/marketplace.tfstate"
	// The same configuration applied a second time with Terraform, in its
	// own namespace and state: the suite runs both tools.
	tfWSName   = "marketplace-tf"
	tfNS       = "chaos-tf"
	tfStateKey = "chaos/marketplace-tf.tfstate"
	hookKey    = "whsec-chaos-1"
	root       = "../.."
)

// Harness is the production-shaped installation under test.
type Harness struct {
	t      *testing.T
	Lab    *lab.Lab
	NATS   *natslab.Cluster
	Admin  *natslab.Conn
	WS     *lab.Workspace // OpenTofu, namespace ns
	TFWS   *lab.Workspace // Terraform, namespace tfNS
	Procs  []*Proc
	Rec    *Recorder
	Hook   *Receiver
	Slack  *Receiver
	binDir string
	cfgDir string
	env    []string
}

// Proc is one service replica, its own process from its own binary.
type Proc struct {
	Name    string // planner-1
	Service string // planner
	URL     string // the NATS node it connects to
	Log     *natslab.SyncBuffer
	h       *Harness
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	Starts  int
}

// buildServices builds each service's own binary (bin/driftgate-*, as make
// build does) into dir.
func buildServices(dir string) error {
	args := []string{"build", "-o", dir + "/"}
	for _, s := range []string{"watcher", "planner", "importer", "notifier"} {
		args = append(args, "./services/"+s+"/cmd/driftgate-"+s)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// StartHarness starts everything and waits for the first plan.
func StartHarness(t *testing.T, ctx context.Context) *Harness {
	h := &Harness{t: t, binDir: t.TempDir(), cfgDir: t.TempDir()}
	built := make(chan error, 1)
	go func() { built <- buildServices(h.binDir) }()
	h.NATS = natslab.Start(t, 3, filepath.Join(root, "deploy", "nats", "accounts.conf"))
	h.Lab = lab.Start(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	h.Admin = natslab.Connect(t, h.NATS.URLs(), "admin", h.NATS.Passwords["admin"])
	// admin provisions once, at replicas 3; each service's config says 3
	// too (nats.stream_replicas) and a service refuses a stream of another shape.
	// Retried: a node that has not joined the JetStream meta group yet
	// answers "no suitable peers for placement" (a loaded machine).
	var perr error
	if err := until(ctx, 2*time.Minute, "the stream and buckets at replicas 3", func() bool {
		if _, perr = events.EnsureStream(ctx, h.Admin.JS, events.StreamConfig{Replicas: 3}); perr != nil {
			return false
		}
		_, perr = events.EnsureBuckets(ctx, h.Admin.JS, 3)
		return perr == nil
	}); err != nil {
		t.Fatalf("%v: %v", err, perr)
	}
	h.Rec = StartRecorder(t, ctx, h.Admin.JS)
	h.Hook = NewReceiver(t, true)
	h.Slack = NewReceiver(t, false)

	h.WS = h.Lab.NewWorkspace(t, filepath.Join(root, "examples", "marketplace"), lab.Tofu, stateKey)
	h.TFWS = h.Lab.NewWorkspace(t, filepath.Join(root, "examples", "marketplace"), lab.Terraform, tfStateKey)
	applied := make(chan error, 2)
	for _, w := range []struct {
		ws *lab.Workspace
		ns string
	}{{h.WS, ns}, {h.TFWS, tfNS}} {
		go func() {
			if err := os.WriteFile(filepath.Join(w.ws.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("namespace = %q\n", w.ns)), 0o644); err != nil {
				applied <- err
				return
			}
			if err := w.ws.Init(ctx); err != nil {
				applied <- err
				return
			}
			applied <- w.ws.Apply(ctx)
		}()
	}
	for range 2 {
		if err := <-applied; err != nil {
			t.Fatal(err)
		}
	}
	h.env = append(append(os.Environ(), h.Lab.Env()...), "DRIFTGATE_WEBHOOK_SECRET="+hookKey,
		"DRIFTGATE_SLACK_URL="+h.Slack.URL+"/slack", "DRIFTGATE_APPROVER_TOKEN=approver-chaos-7f1d")
	node := 0
	for _, s := range []struct {
		svc string
		n   int
	}{{"watcher", 2}, {"planner", 2}, {"importer", 2}, {"notifier", 2}} {
		for i := range s.n {
			p := &Proc{Name: fmt.Sprintf("%s-%d", s.svc, i+1), Service: s.svc, URL: h.NATS.Nodes[node%3].URL, Log: &natslab.SyncBuffer{}, h: h}
			node++
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			h.Procs = append(h.Procs, p)
		}
	}
	t.Cleanup(func() {
		for _, p := range h.Procs {
			p.Stop()
			if t.Failed() {
				s := p.Log.String()
				t.Logf("%s log (tail):\n%s", p.Name, s[max(0, len(s)-3000):])
			}
		}
	})
	// Ready is a fact: a plan of each workspace completed.
	for _, ws := range []string{wsName, tfWSName} {
		if _, err := h.Rec.Wait(ctx, time.Time{}, 5*time.Minute, "the first plan.completed of "+ws, func(r Record) bool {
			pc, ok := r.Data.(*events.PlanCompleted)
			return ok && pc.Workspace() == ws
		}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// backend renders a workspace's backend_config entries for the config file.
func (h *Harness) backend(bin lab.Binary, key string) string {
	var bc strings.Builder
	for k, v := range h.Lab.BackendConfig(bin, key) {
		if strings.HasPrefix(v, "{") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fmt.Fprintf(&bc, "      %s: %q\n", k, v)
	}
	return bc.String()
}

// config writes the one config file a service's replicas share.
func (h *Harness) config(svc, url string) string {
	yml := fmt.Sprintf(`nats:
  url: %q
  user: %s
  password_env: DRIFTGATE_NATS_PASSWORD
  stream_replicas: 3
clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [deployments.apps, services, configmaps, secrets]
  namespaces: [%s, %s]
  leader_election: true
  lease_namespace: default
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    namespaces: [%s]
    import: {approval: auto-low-risk}
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    namespaces: [%s]
planner:
  debounce: 2s
  max_wait: 10s
  min_free_bytes: %d
notify:
  sinks:
    - {name: hook, webhook: {url: %q, secret_env: DRIFTGATE_WEBHOOK_SECRET}, max_attempts: 1000, backoff_min: 1s, backoff_max: 10s}
    - {name: slack, slack: {webhook_url_env: DRIFTGATE_SLACK_URL}, rate_per_minute: 600, max_attempts: 1000, backoff_min: 1s, backoff_max: 10s}
  routes:
    - {match: {types: [drift.detected, drift.resolved, import.*]}, sinks: [hook, slack]}
`, url, svc, h.Lab.Kubeconfig, ns, tfNS,
		wsName, h.WS.Dir, h.Lab.BinaryPath(lab.Tofu), h.backend(lab.Tofu, h.WS.Key), ns,
		tfWSName, h.TFWS.Dir, h.Lab.BinaryPath(lab.Terraform), h.backend(lab.Terraform, h.TFWS.Key), tfNS,
		h.minFree(), h.Hook.URL+"/hook")
	p := filepath.Join(h.cfgDir, fmt.Sprintf("%s-%d.yaml", svc, time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// minFree is the planner's disk guard threshold: normally 1 byte; the
// disk-full fault raises it above the free space of the data dir.
var diskFull struct {
	mu sync.Mutex
	on bool
}

func (h *Harness) minFree() int64 {
	diskFull.mu.Lock()
	defer diskFull.mu.Unlock()
	if diskFull.on {
		return 1 << 62
	}
	return 1
}

// Start starts (or restarts) the replica.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.h
	cmd := exec.Command(filepath.Join(h.binDir, "driftgate-"+p.Service), "--config", h.config(p.Service, p.URL),
		"--data-dir", filepath.Join(h.cfgDir, p.Name), "--http", "127.0.0.1:0")
	if lvl := os.Getenv("CHAOS_LOG_LEVEL"); lvl != "" { // debug: every decision a replica takes
		cmd.Args = append(cmd.Args, "--log-level", lvl)
	}
	cmd.Env = append(h.env, "DRIFTGATE_NATS_PASSWORD="+h.NATS.Passwords[p.Service], "HOSTNAME="+p.Name, "POD_NAME="+p.Name)
	var out io.Writer = p.Log
	if dir := os.Getenv("CHAOS_LOGS"); dir != "" { // each replica's log also in a file, to watch a run
		if f, err := os.OpenFile(filepath.Join(dir, p.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			out = io.MultiWriter(p.Log, f)
		}
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	p.Starts++
	return nil
}

// Pid is the running process's id (0 when stopped).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Kill9 kills the replica and its children (its tofu) with SIGKILL, as a
// node's OOM killer or a lost node does.
func (p *Proc) Kill9() { p.signal(syscall.SIGKILL) }

// Stop ends the replica with SIGTERM (SIGKILL after a minute).
func (p *Proc) Stop() { p.signal(syscall.SIGTERM) }

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// Replicas returns the replicas of svc.
func (h *Harness) Replicas(svc string) []*Proc {
	var out []*Proc
	for _, p := range h.Procs {
		if p.Service == svc {
			out = append(out, p)
		}
	}
	return out
}

// Record is one message of the stream.
type Record struct {
	Seq     uint64
	At      time.Time // the stream's timestamp
	Subject string
	ID      string
	Type    string
	Data    events.Data
	Header  map[string][]string
	Err     error // did not decode
}

// Recorder reads the whole stream, as admin, from the first message on.
type Recorder struct {
	mu   sync.Mutex
	recs []Record
	more chan struct{}
}

// StartRecorder follows the stream until ctx ends; an ordered consumer is
// made again from the next sequence whenever it fails (a node went away).
func StartRecorder(t *testing.T, ctx context.Context, js jetstream.JetStream) *Recorder {
	r := &Recorder{more: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		next := uint64(1)
		for ctx.Err() == nil {
			c, err := js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
				continue
			}
			for ctx.Err() == nil {
				fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
				m, err := c.Next(jetstream.FetchContext(fctx))
				fcancel()
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						continue
					}
					break
				}
				md, err := m.Metadata()
				if err != nil {
					continue
				}
				rec := Record{Seq: md.Sequence.Stream, At: md.Timestamp, Subject: m.Subject(), Header: m.Headers()}
				if e, d, err := events.Decode(m.Data()); err == nil {
					rec.ID, rec.Type, rec.Data = e.ID(), e.Type(), d
				} else {
					rec.Err = err
				}
				next = md.Sequence.Stream + 1
				r.mu.Lock()
				r.recs = append(r.recs, rec)
				close(r.more)
				r.more = make(chan struct{})
				r.mu.Unlock()
			}
		}
	}()
	return r
}

// All returns a copy of what was recorded so far.
func (r *Recorder) All() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

// Wait returns the first record at or after since that match accepts.
func (r *Recorder) Wait(ctx context.Context, since time.Time, limit time.Duration, what string, match func(Record) bool) (Record, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	i := 0
	for {
		r.mu.Lock()
		recs, more := r.recs, r.more
		r.mu.Unlock()
		for ; i < len(recs); i++ {
			if !recs[i].At.Before(since) && match(recs[i]) {
				return recs[i], nil
			}
		}
		select {
		case <-ctx.Done():
			return Record{}, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-more:
		}
	}
}

// Receiver is an alert sink: the signed webhook (signature checked as
// docs/webhooks.md tells receivers to) or the Slack incoming webhook.
type Receiver struct {
	URL    string
	signed bool

	mu        sync.Mutex
	fail      bool
	deliv     map[string]int // CloudEvent id → accepted deliveries (webhook)
	first     map[string]time.Time
	posts     int // accepted posts
	postAt    []time.Time
	refused   int // answered 503
	badSigned int
	bodies    []string
}

// NewReceiver starts the receiver; closed at cleanup.
func NewReceiver(t *testing.T, signed bool) *Receiver {
	rc := &Receiver{signed: signed, deliv: map[string]int{}, first: map[string]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail {
		rc.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if rc.signed {
		ts := r.Header.Get("X-Driftgate-Timestamp")
		m := hmac.New(sha256.New, []byte(hookKey))
		m.Write([]byte(ts + "."))
		m.Write(body)
		if r.Header.Get("X-Driftgate-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			rc.badSigned++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ces []struct {
			ID string `json:"id"`
		}
		if strings.HasPrefix(strings.TrimSpace(string(body)), "[") {
			_ = json.Unmarshal(body, &ces)
		} else {
			var one struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(body, &one)
			ces = append(ces, one)
		}
		for _, ce := range ces {
			if rc.deliv[ce.ID] == 0 {
				rc.first[ce.ID] = time.Now()
			}
			rc.deliv[ce.ID]++
		}
	}
	rc.posts++
	rc.postAt = append(rc.postAt, time.Now())
	rc.bodies = append(rc.bodies, string(body))
	w.WriteHeader(http.StatusNoContent)
}

// SetFailing makes the receiver answer 503 (true) or accept again.
func (rc *Receiver) SetFailing(on bool) {
	rc.mu.Lock()
	rc.fail = on
	rc.mu.Unlock()
}

// Deliveries returns how often the event id was accepted.
func (rc *Receiver) Deliveries(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.deliv[id]
}

// PostsBetween counts the posts accepted in [from, to).
func (rc *Receiver) PostsBetween(from, to time.Time) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, at := range rc.postAt {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// Posts returns the accepted posts so far.
func (rc *Receiver) Posts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.posts
}

// routed reports whether the notifier's route (drift.detected,
// drift.resolved, import.*, no classes filter) sends the event to the
// sinks: a route without a classes filter leaves out ignored and
// pending-config findings (docs/notifier.md).
func routed(r Record) bool {
	alerted := func(class string) bool { return class != events.ClassIgnored && class != events.ClassPendingConfig }
	switch d := r.Data.(type) {
	case *events.DriftDetected:
		return alerted(d.Finding.Class)
	case *events.DriftResolved:
		return alerted(d.Finding.Class)
	case *events.Import:
		return true
	}
	return false
}
