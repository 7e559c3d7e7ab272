package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/gate"
)

func init() {
	register("gate", "one-shot plan + classification of a workspace; exit 0 clean, 2 drift, 1 error", runGate)
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runGate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	wcmd := workspaceFlags(fs, "workspace to gate (required)", 15*time.Minute)
	var allow stringList
	fs.Var(&allow, "allow", "an intended change: a resource address or pattern (module.app.*); repeatable")
	out := fs.String("o", "text", "output: text, markdown or json")
	dataDir := fs.String("data-dir", "", "working copies and plugin cache (default: the user cache dir)")
	imports := fs.String("imports", gate.DefaultImportsFile, "the file driftgate adopt writes import blocks to (named in the report)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "gate")
	if err := wcmd.required(); err != nil {
		return fail(err)
	}
	if !slices.Contains(gate.Formats, *out) && *out != "md" {
		return fail(fmt.Errorf("-o %q is not text, markdown or json", *out))
	}
	if err := wcmd.load(stderr); err != nil {
		return fail(err)
	}
	cfg := wcmd.cfg
	kube, err := kubeConfig(cfg, wcmd.wc.Cluster)
	if err != nil {
		return fail(err)
	}
	if *dataDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		*dataDir = filepath.Join(base, "driftgate", "gate")
	}
	ctx, cancel := wcmd.context()
	defer cancel()
	rep, err := gate.Run(ctx, gate.Options{
		Config: cfg, Workspace: *wcmd.ws, Allow: allow, DataDir: *dataDir, Environ: os.Environ(), Getenv: os.Getenv,
		Kube: kube, MinFreeBytes: cfg.Planner.MinFreeBytes, Timeout: *wcmd.timeout, Log: wcmd.log, ImportsFile: *imports,
	})
	if err != nil {
		return fail(err)
	}
	if err := rep.Write(stdout, *out); err != nil {
		return fail(err)
	}
	return rep.ExitCode()
}

// kubeConfig reaches the workspace's cluster: the cluster's kubeconfig from
// the config file, else $KUBECONFIG, then the in-cluster config (client-go's
// loading rules).
func kubeConfig(cfg *config.File, cluster string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	if len(cfg.Clusters) > 0 {
		c, err := cfg.Cluster(cluster)
		if err != nil {
			return nil, err
		}
		if c.Kubeconfig != "" {
			rules.ExplicitPath = cfg.ResolveDir(c.Kubeconfig)
		}
		overrides.CurrentContext = c.Context
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if clientcmd.IsEmptyConfig(err) {
		return nil, errors.New("no kubeconfig: set the cluster's kubeconfig in the config file or $KUBECONFIG (or run in a cluster)")
	}
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = 50, 100
	return rc, nil
}
