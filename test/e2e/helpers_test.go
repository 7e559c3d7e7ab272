package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// childEnv makes the test binary run as a planner process (TestMain), so a
// test can kill a planner mid-plan for real. childLeaseEnv carries the lease
// TTL, childEnvironEnv the tool environment (KEY=VALUE lines).
const (
	childEnv        = "DRIFTGATE_PLANNER_TEST_CHILD"
	childLeaseEnv   = "DRIFTGATE_PLANNER_TEST_LEASE"
	childEnvironEnv = "DRIFTGATE_PLANNER_TEST_ENVIRON"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(service.Main("planner", childFactory, os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

func childFactory(cfg *config.File, d service.Deps) (service.Runner, error) {
	var opts []planner.Option
	if v := os.Getenv(childLeaseEnv); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		opts = append(opts, planner.WithLeaseTTL(ttl))
	}
	if v := os.Getenv(childEnvironEnv); v != "" {
		opts = append(opts, planner.WithEnviron(strings.Split(v, "\n")))
	}
	s, err := planner.New(cfg, d, opts...)
	if s == nil || err != nil {
		return nil, err
	}
	return s, nil
}

const marketplaceSrc = "../../examples/marketplace"

// toolEnv is what tofu and terraform need against the lab.
func toolEnv(l *lab.Lab) []string { return append(os.Environ(), l.Env()...) }

// prepare copies an example into a fresh dir with the lab's backend for bin
// under key, and sets its variables.
func prepare(t testing.TB, l *lab.Lab, src string, bin lab.Binary, key string, vars map[string]string) *lab.Workspace {
	t.Helper()
	w := l.NewWorkspace(t, src, bin, key)
	setVars(t, w.Dir, vars)
	return w
}

// setVars writes lab.auto.tfvars (both tools load *.auto.tfvars).
func setVars(t testing.TB, dir string, vars map[string]string) {
	t.Helper()
	var b strings.Builder
	for k, v := range vars {
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.auto.tfvars"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func apply(t testing.TB, w *lab.Workspace) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(w.Dir, ".terraform")); err != nil {
		if err := w.Init(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
}

// workspaceConfig is a config with the lab's cluster and one workspace in
// dir.
func workspaceConfig(l *lab.Lab, name, dir string, bin lab.Binary, namespaces ...string) *config.File {
	return &config.File{
		Clusters: []config.Cluster{{Name: "lab", Kubeconfig: l.Kubeconfig}},
		Watch: config.Watch{
			Resources:     []string{"deployments.apps", "services", "configmaps", "secrets", "namespaces", "serviceaccounts", "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"},
			Namespaces:    namespaces,
			ProbeInterval: config.Duration{Duration: time.Second},
		},
		Workspaces: []config.Workspace{{
			Name: name, Cluster: "lab", Dir: dir, Binary: l.BinaryPath(bin),
			Namespaces:    namespaces,
			HighRiskKinds: []string{"statefulsets.apps", "persistentvolumeclaims", "clusters.postgresql.cnpg.io"},
			Ignore: []config.IgnoreRule{
				{Resource: "deployments.apps", Paths: []string{"spec.replicas"}, Managers: []string{"horizontal-pod-autoscaler"}},
				{Managers: []string{"argocd-controller"}},
			},
		}},
		Planner: config.Planner{
			Debounce: config.Duration{Duration: 300 * time.Millisecond},
			MaxWait:  config.Duration{Duration: 3 * time.Second},
		},
	}
}

// patch applies a merge patch as a kubectl-style field manager.
func patch(t testing.TB, l *lab.Lab, manager, resource, ns, name, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kc := l.Kube()
	opts := metav1.PatchOptions{FieldManager: manager}
	var err error
	switch resource {
	case "deployments":
		_, err = kc.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	case "configmaps":
		_, err = kc.CoreV1().ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	case "secrets":
		_, err = kc.CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	case "services":
		_, err = kc.CoreV1().Services(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	default:
		t.Fatalf("patch: resource %s not handled", resource)
	}
	if err != nil {
		t.Fatalf("patch %s %s/%s: %v", resource, ns, name, err)
	}
}

func quietLog() *slog.Logger {
	// DRIFTGATE_TEST_LOG=debug|info shows the services' logs.
	lvl := slog.LevelWarn
	if v := os.Getenv("DRIFTGATE_TEST_LOG"); v != "" {
		_ = lvl.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// marketplaceImportIDs are the import IDs of the ten objects of
// examples/marketplace in namespace ns.
func marketplaceImportIDs(ns string) map[string]string {
	return map[string]string{
		"kubernetes_namespace.shop":                    ns,
		"kubernetes_config_map.marketplace":            ns + "/marketplace-config",
		"kubernetes_secret.marketplace":                ns + "/marketplace-db",
		"kubectl_manifest.marketplace_service_account": "v1//ServiceAccount//marketplace//" + ns,
		"kubernetes_role.marketplace":                  ns + "/marketplace",
		"kubernetes_role_binding.marketplace":          ns + "/marketplace",
		"kubernetes_deployment.marketplace":            ns + "/marketplace",
		"kubernetes_service.marketplace":               ns + "/marketplace",
		"kubectl_manifest.recommendations_deployment":  "apps/v1//Deployment//recommendations//" + ns,
		"kubectl_manifest.recommendations_service":     "v1//Service//recommendations//" + ns,
	}
}
