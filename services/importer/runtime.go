package importer

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/services/importer/internal/live"
)

// Env says what the importer's tools run with.
type Env struct {
	// Environ is the base environment of the tool (os.Environ() in main).
	Environ []string
	// Getenv reads the variables the config names (*_env, env_from).
	Getenv func(string) string
	// Stderr receives the tool's stderr when set.
	Stderr io.Writer
}

// toolEnviron is the tool's environment: the base, KUBECONFIG of the
// workspace's cluster, then the workspace's env and env_from.
func toolEnviron(e Env, cl *config.Cluster, w *config.Workspace) ([]string, error) {
	env := append([]string(nil), e.Environ...)
	if cl != nil && cl.Kubeconfig != "" {
		env = append(env, "KUBECONFIG="+cl.Kubeconfig)
	}
	keys := make([]string, 0, len(w.Env))
	for k := range w.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+w.Env[k])
	}
	keys = keys[:0]
	for k := range w.EnvFrom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := e.Getenv(w.EnvFrom[k])
		if v == "" {
			return nil, fmt.Errorf("workspace %s: env_from %s: environment variable %s is empty", w.Name, k, w.EnvFrom[k])
		}
		env = append(env, k+"="+v)
	}
	return env, nil
}

// restConfig is the client config of a cluster: its kubeconfig (and
// context), else client-go's default loading rules, else in-cluster.
func restConfig(cl *config.Cluster) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cl.Kubeconfig != "" {
		rules.ExplicitPath = cl.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: cl.Context}).ClientConfig()
	if err != nil {
		if cl.Kubeconfig == "" {
			if ic, ierr := rest.InClusterConfig(); ierr == nil {
				return ic, nil
			}
		}
		return nil, fmt.Errorf("cluster %s: kubeconfig: %w", cl.Name, err)
	}
	return cfg, nil
}

// openWorkspace prepares a workspace for imports: a working copy in dir
// (init runs there), its state object, the live reader of its cluster, and
// journal.
func openWorkspace(ctx context.Context, f *config.File, name, dir string, e Env, journal func(*tofu.Store) execute.Journal) (*execute.Workspace, *config.Workspace, error) {
	w, err := f.Workspace(name)
	if err != nil {
		return nil, nil, err
	}
	if w.Git() != nil {
		return nil, nil, fmt.Errorf("workspace %s reads its configuration from Git (source.git): run this with a config whose workspace has dir: a local checkout of %s", name, w.Git().URL)
	}
	return openWorkspaceAt(ctx, f, name, f.ResolveDir(w.Dir), dir, e, journal)
}

// openWorkspaceAt is openWorkspace with the module at moduleDir (a local
// dir, or the checkout of a Git revision).
func openWorkspaceAt(ctx context.Context, f *config.File, name, moduleDir, dir string, e Env, journal func(*tofu.Store) execute.Journal) (*execute.Workspace, *config.Workspace, error) {
	w, err := f.Workspace(name)
	if err != nil {
		return nil, nil, err
	}
	cl := &config.Cluster{Name: w.Cluster}
	if len(f.Clusters) > 0 {
		c, err := f.Cluster(clusterName(f, w))
		if err != nil {
			return nil, nil, err
		}
		cc := *c
		if cc.Kubeconfig != "" {
			cc.Kubeconfig = f.ResolveDir(cc.Kubeconfig)
		}
		cl = &cc
	}
	be, err := tofu.ParseBackendConfig(w.BackendConfig)
	if err != nil {
		return nil, nil, fmt.Errorf("workspace %s: %w", name, err)
	}
	if be.DynamoDBTable != "" {
		return nil, nil, fmt.Errorf("workspace %s: backend_config.dynamodb_table: DynamoDB state locking is not supported by the importer (its digest would not match a restored state); use use_lockfile", name)
	}
	environ, err := toolEnviron(e, cl, w)
	if err != nil {
		return nil, nil, err
	}
	rc, err := restConfig(cl)
	if err != nil {
		return nil, nil, err
	}
	lr, err := live.NewReader(rc)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	var varFiles []string
	for _, vf := range w.VarFiles {
		if !filepath.IsAbs(vf) {
			vf = filepath.Join(moduleDir, vf)
		}
		varFiles = append(varFiles, vf)
	}
	tw, err := tofu.Open(ctx, moduleDir, tofu.Options{
		Name: name, Dir: dir, Binary: w.Binary, BackendConfig: w.BackendConfig,
		VarFiles: varFiles, Environ: environ, Stderr: e.Stderr,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("workspace %s: %w", name, err)
	}
	// The state is read with the credentials and endpoint the tool uses.
	loc := be.Location(tw.Env(), "")
	s3c, err := tofu.NewS3Client(ctx, loc)
	if err != nil {
		return nil, nil, fmt.Errorf("workspace %s: %w", name, err)
	}
	store := tofu.NewStore(s3c, loc.Bucket, loc.Key)
	return &execute.Workspace{
		Name: name, TF: tw, State: store, Lockfile: be.UseLockfile, Live: lr, Journal: journal(store), Ignore: w.Ignore,
	}, w, nil
}
