package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Files Up writes into the lab directory.
const (
	StateFile = "state.json" // the processes Up started; Down reads it
	EnvFile   = "env"        // sourceable: export KUBECONFIG=... AWS_* TF_CLI_CONFIG_FILE PATH
)

// state is what a later program needs to use or stop a lab that Up started.
type state struct {
	Dir        string              `json:"dir"`
	Kubeconfig string              `json:"kubeconfig"`
	Server     string              `json:"server"`
	S3         S3                  `json:"s3"`
	Tools      Tools               `json:"tools"`
	AdminToken string              `json:"admin_token"`
	CAData     []byte              `json:"ca_data"`
	Options    options             `json:"options"`
	Processes  map[string]*process `json:"processes"`
	Updated    time.Time           `json:"updated"`
}

// Up starts a lab in dir whose processes outlive the caller (make lab-up, make
// demo), and writes dir/state.json and dir/env (see EnvFile) plus the backend
// config files tofu.s3.tfbackend and terraform.s3.tfbackend. A lab already
// running in dir is an error; the data of a stopped one is discarded.
func Up(ctx context.Context, dir string, opts ...Option) (*Lab, error) {
	if old, err := Attach(dir); err == nil {
		if pids := old.PIDs(); len(pids) > 0 {
			return nil, fmt.Errorf("lab: already running in %s (pids %v): run `make lab-down` first", dir, pids)
		}
	}
	for _, name := range []string{"etcd", "minio", "pki", "kubeconfigs", "logs", StateFile, EnvFile} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("lab: clean %s: %w", dir, err)
		}
	}
	o := newOptions(opts)
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	l, err := start(ctx, dir, true, o)
	if err != nil {
		return nil, err
	}
	if err := l.writeEnvFiles(); err != nil {
		_ = l.Stop()
		return nil, err
	}
	return l, nil
}

// Attach returns the lab that Up started in dir, from its state file. Its
// Stop, StopAPIServer, StartAPIServer, StopS3 and StartS3 act on those
// processes and keep the state file current.
func Attach(dir string) (*Lab, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("lab dir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("lab: no lab in %s: %w", dir, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: state file %s: %w", filepath.Join(dir, StateFile), err)
	}
	if s.Processes == nil {
		s.Processes = map[string]*process{}
	}
	return &Lab{
		Dir: s.Dir, Kubeconfig: s.Kubeconfig, Server: s.Server, S3: s.S3, Tools: s.Tools,
		opts: s.Options, detached: true, adminToken: s.AdminToken, caData: s.CAData, procs: s.Processes,
	}, nil
}

// Down stops exactly the processes that Up started in dir, waits until they
// are gone, and removes the state and env files (logs and data stay for
// inspection until the next Up). It wraps os.ErrNotExist when no lab was
// started there.
func Down(dir string) error {
	l, err := Attach(dir)
	if err != nil {
		return err
	}
	if err := l.Stop(); err != nil {
		return err
	}
	for _, name := range []string{StateFile, EnvFile} {
		if err := os.Remove(filepath.Join(l.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("lab: %w", err)
		}
	}
	return nil
}

func (l *Lab) saveState() error {
	if !l.detached {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.saveStateLocked()
}

// saveStateLocked writes the state file atomically; l.mu is held.
func (l *Lab) saveStateLocked() error {
	if !l.detached {
		return nil
	}
	b, err := json.MarshalIndent(state{
		Dir: l.Dir, Kubeconfig: l.Kubeconfig, Server: l.Server, S3: l.S3, Tools: l.Tools,
		AdminToken: l.adminToken, CAData: l.caData, Options: l.opts, Processes: l.procs,
		Updated: time.Now().UTC(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: state: %w", err)
	}
	return writeFileAtomic(filepath.Join(l.Dir, StateFile), b, 0o600)
}

// writeEnvFiles writes the sourceable env file and the backend config files.
func (l *Lab) writeEnvFiles() error {
	var b strings.Builder
	fmt.Fprintf(&b, "# driftgate lab in %s, started %s.\n# Source it: . %s\n",
		l.Dir, time.Now().Format(time.RFC3339), filepath.Join(l.Dir, EnvFile))
	for _, kv := range l.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PATH" {
			fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(l.toolPath()))
			continue
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	if err := writeFileAtomic(filepath.Join(l.Dir, EnvFile), []byte(b.String()), 0o600); err != nil {
		return err
	}
	if l.S3.Endpoint == "" {
		return nil
	}
	for _, bin := range []Binary{Tofu, Terraform} {
		if err := writeFileAtomic(l.BackendFile(bin), []byte(l.backendHCL(bin, "")), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// BackendFile is the path of the backend config file Up writes for bin: pass
// it as -backend-config=FILE to init, with -backend-config=key=KEY.
func (l *Lab) BackendFile(bin Binary) string {
	return filepath.Join(l.Dir, string(bin)+".s3.tfbackend")
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("lab: write %s: %w", path, err)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Components returns the names of the lab's components in start order.
func (l *Lab) Components() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var names []string
	for name := range l.procs {
		names = append(names, name)
	}
	order := map[string]int{}
	for i, n := range stopOrder {
		order[n] = -i
	}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	return names
}
