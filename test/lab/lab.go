package lab

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Component names, as in log file names and the state file.
const (
	ComponentEtcd              = "etcd"
	ComponentAPIServer         = "kube-apiserver"
	ComponentControllerManager = "kube-controller-manager"
	ComponentS3                = "minio"
)

// stopOrder stops dependents before what they depend on.
var stopOrder = []string{ComponentControllerManager, ComponentAPIServer, ComponentEtcd, ComponentS3}

// Lab is a running lab. Its exported fields are fixed once it has started;
// its methods are safe for concurrent use.
type Lab struct {
	// Dir holds the lab's data, keys, kubeconfigs and logs (logs/<component>.log).
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (a system:masters token);
	// empty when the lab runs without Kubernetes.
	Kubeconfig string
	// Server is the API server's URL, https://127.0.0.1:PORT.
	Server string
	// S3 is the S3 server and its versioned state bucket; zero without S3.
	S3 S3
	// Tools are the binaries the lab runs and hands to tests.
	Tools Tools

	opts       options
	detached   bool // started by Up: processes outlive this program, state is saved
	adminToken string
	caData     []byte

	mu    sync.Mutex
	procs map[string]*process
	kube  kubernetes.Interface
	dyn   dynamic.Interface
}

// Option configures a lab.
type Option func(*options)

type options struct {
	NoKube              bool          `json:"no_kube"`
	NoControllerManager bool          `json:"no_controller_manager"`
	NoS3                bool          `json:"no_s3"`
	StartTimeout        time.Duration `json:"start_timeout"`
	Tools               *Tools        `json:"-"`
}

// WithoutControllerManager starts no kube-controller-manager: nothing creates
// ReplicaSets or finishes deleting namespaces, but the lab starts faster.
func WithoutControllerManager() Option { return func(o *options) { o.NoControllerManager = true } }

// WithoutKubernetes starts neither etcd nor the Kubernetes control plane.
func WithoutKubernetes() Option {
	return func(o *options) { o.NoKube, o.NoControllerManager = true, true }
}

// WithoutS3 starts no S3 server.
func WithoutS3() Option { return func(o *options) { o.NoS3 = true } }

// WithStartTimeout bounds how long start-up may take (default 2 minutes).
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.StartTimeout = d } }

// WithTools uses these tool paths instead of the tools cache's.
func WithTools(t Tools) Option { return func(o *options) { o.Tools = &t } }

func newOptions(opts []Option) options {
	o := options{StartTimeout: 2 * time.Minute}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Start starts a lab for a test in a temporary directory. The test fails at
// once if the lab does not start. Cleanup stops the lab and, if the test
// failed, attaches the end of every component log to the test output.
func Start(t testing.TB, opts ...Option) *Lab {
	t.Helper()
	l, err := New(context.Background(), t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.logLogs(t)
		}
		if err := l.Stop(); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
	return l
}

// New starts a lab in dir and returns once every component is ready. Its
// processes die with this program; call Stop when done.
func New(ctx context.Context, dir string, opts ...Option) (*Lab, error) {
	o := newOptions(opts)
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	return start(ctx, dir, false, o)
}

// logLogs attaches the end of each component's log to the test output.
func (l *Lab) logLogs(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, name := range stopOrder {
		if p := l.procs[name]; p != nil {
			t.Logf("lab: last lines of %s (pid %d):\n%s", name, p.PID, p.tail(60))
		}
	}
}

// start brings up the lab's components in dir. On error, whatever started is
// stopped again and the error carries the failing component's log tail.
func start(ctx context.Context, dir string, detached bool, o options) (_ *Lab, err error) {
	tools := o.Tools
	if tools == nil {
		t, err := FindTools()
		if err != nil {
			return nil, err
		}
		tools = &t
	}
	var need []string
	if !o.NoKube {
		need = append(need, tools.Etcd, tools.KubeAPIServer)
	}
	if !o.NoControllerManager {
		need = append(need, tools.KubeControllerManager)
	}
	if !o.NoS3 {
		need = append(need, tools.MinIO)
	}
	if err := tools.Check(need...); err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lab dir: %w", err)
	}
	for _, d := range []string{"logs", "pki", "kubeconfigs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("lab dir: %w", err)
		}
	}
	l := &Lab{Dir: dir, Tools: *tools, opts: o, detached: detached, procs: map[string]*process{}}
	defer func() {
		if err != nil {
			_ = l.Stop()
		}
	}()

	var g errgroup.Group
	if !o.NoKube {
		g.Go(func() error { return l.startKube(ctx) })
	}
	if !o.NoS3 {
		g.Go(func() error { return l.startS3(ctx) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if detached {
		if err := l.saveState(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Stop stops every component, waits until each process is gone and reports
// any that would not end. It only signals the processes this lab started.
func (l *Lab) Stop() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, name := range stopOrder {
		if p := l.procs[name]; p != nil {
			if err := p.stop(stopGrace); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if l.detached {
		if err := l.saveStateLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

const stopGrace = 10 * time.Second

// PIDs returns the process ids of the lab's running components by name.
func (l *Lab) PIDs() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]int{}
	for name, p := range l.procs {
		if p.alive() {
			m[name] = p.PID
		}
	}
	return m
}

// LogFile returns the path of a component's log (see the Component constants).
func (l *Lab) LogFile(component string) string {
	return filepath.Join(l.Dir, "logs", component+".log")
}

// RESTConfig returns a new admin client config for the API server.
func (l *Lab) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            l.Server,
		BearerToken:     l.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: append([]byte(nil), l.caData...)},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
	}
}

// Kube returns an admin clientset (one per lab).
func (l *Lab) Kube() kubernetes.Interface {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kube == nil {
		l.kube = kubernetes.NewForConfigOrDie(l.RESTConfig())
	}
	return l.kube
}

// Dynamic returns an admin dynamic client (one per lab).
func (l *Lab) Dynamic() dynamic.Interface {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dyn == nil {
		l.dyn = dynamic.NewForConfigOrDie(l.RESTConfig())
	}
	return l.dyn
}

// Env returns the environment a tofu or terraform run against this lab needs,
// as KEY=VALUE pairs to append to os.Environ(): the admin KUBECONFIG, the S3
// endpoint and credentials as AWS_*, TF_CLI_CONFIG_FILE for the provider
// mirror, and PATH with the tofu and terraform directories first.
func (l *Lab) Env() []string {
	var env []string
	if l.Kubeconfig != "" {
		env = append(env, "KUBECONFIG="+l.Kubeconfig)
	}
	if l.S3.Endpoint != "" {
		env = append(env,
			"AWS_ACCESS_KEY_ID="+l.S3.AccessKey,
			"AWS_SECRET_ACCESS_KEY="+l.S3.SecretKey,
			"AWS_REGION="+l.S3.Region,
			"AWS_DEFAULT_REGION="+l.S3.Region,
			"AWS_ENDPOINT_URL_S3="+l.S3.Endpoint,
			"AWS_S3_ENDPOINT="+l.S3.Endpoint, // terraform 1.5's s3 backend reads this one
			"AWS_EC2_METADATA_DISABLED=true",
		)
	}
	return append(env,
		"TF_CLI_CONFIG_FILE="+l.Tools.CLIConfigFile,
		"CHECKPOINT_DISABLE=1",
		"PATH="+l.toolPath()+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

// toolPath is the tofu and terraform directories as a PATH prefix.
func (l *Lab) toolPath() string {
	return filepath.Dir(l.Tools.Tofu) + string(os.PathListSeparator) + filepath.Dir(l.Tools.Terraform)
}

// launch starts a component built by build and waits until ready passes. A
// component that exits because its port was taken in the meantime is
// started again on fresh ports (build picks them).
func (l *Lab) launch(ctx context.Context, build func() (*process, func(context.Context) error)) (*process, error) {
	for attempt := 1; ; attempt++ {
		p, ready := build()
		if err := p.start(l.detached); err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.procs[p.Name] = p
		err := l.saveStateLocked()
		l.mu.Unlock()
		if err != nil {
			_ = p.stop(stopGrace)
			return nil, err
		}
		if err = waitReady(ctx, p, ready); err == nil {
			return p, nil
		}
		_ = p.stop(stopGrace)
		if attempt < 3 && strings.Contains(p.tail(40), "address already in use") {
			continue
		}
		return nil, err
	}
}

// restart starts a stopped component again with the same arguments (so on
// the same port and data directory) and waits until ready passes.
func (l *Lab) restart(ctx context.Context, name string, ready func(context.Context) error) error {
	l.mu.Lock()
	old := l.procs[name]
	if old == nil {
		l.mu.Unlock()
		return fmt.Errorf("lab: %s is not part of this lab", name)
	}
	if old.alive() {
		l.mu.Unlock()
		return fmt.Errorf("lab: %s is already running (pid %d)", name, old.PID)
	}
	l.mu.Unlock()
	p := &process{Name: old.Name, Path: old.Path, Args: old.Args, Env: old.Env, Log: old.Log}
	if err := p.start(l.detached); err != nil {
		return err
	}
	l.mu.Lock()
	l.procs[name] = p
	l.mu.Unlock()
	if err := waitReady(ctx, p, ready); err != nil {
		_ = p.stop(stopGrace)
		return err
	}
	return l.saveState()
}

// stopComponent stops one component and waits until it is gone.
func (l *Lab) stopComponent(name string) error {
	l.mu.Lock()
	p := l.procs[name]
	l.mu.Unlock()
	if p == nil {
		return fmt.Errorf("lab: %s is not part of this lab", name)
	}
	if err := p.stop(stopGrace); err != nil {
		return err
	}
	return l.saveState()
}

// waitReady polls ready until it passes, the process exits or ctx ends.
func waitReady(ctx context.Context, p *process, ready func(context.Context) error) error {
	start := time.Now()
	var last error
	err := poll(ctx, 100*time.Millisecond, func() bool {
		if !p.alive() {
			return true
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		last = ready(cctx)
		return last == nil
	})
	switch {
	case !p.alive():
		return fmt.Errorf("%s exited during start-up; last lines of %s:\n%s", p.Name, p.Log, p.tail(30))
	case err != nil:
		return fmt.Errorf("%s not ready after %s (last check: %v); last lines of %s:\n%s",
			p.Name, time.Since(start).Round(time.Millisecond), last, p.Log, p.tail(30))
	}
	return nil
}

// probeClient checks readiness endpoints. It trusts any certificate: it only
// asks whether a server answers, never sends secrets other than the lab's
// own admin token to the lab's own loopback port.
var probeClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback readiness probe
		DisableKeepAlives: true,
	},
}

// probe GETs url and wants 200.
func probe(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// freePort returns a loopback port that was free a moment ago and that this
// program has not handed out before, so labs in one test binary never share
// a port.
func freePort() int {
	portsMu.Lock()
	defer portsMu.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !ports[p] {
			ports[p] = true
			return p
		}
	}
}

// set runs f under l.mu: start-up writes the lab's fields from two
// goroutines while either may save the state.
func (l *Lab) set(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// baseEnv is the environment components run with: nothing from the caller
// but PATH, HOME and TMPDIR, so stray ETCD_*, MINIO_* or KUBECONFIG settings
// cannot change them.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if d := os.Getenv("TMPDIR"); d != "" {
		env = append(env, "TMPDIR="+d)
	}
	return append(env, extra...)
}
