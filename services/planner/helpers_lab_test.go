package planner_test

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
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/obs"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/service/servicetest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

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

// startPlanner runs a planner replica in this process until the test ends
// or stop is called; log is where it logs (quietLog when nil).
func startPlanner(t testing.TB, env *eventstest.Env, cfg *config.File, instance, dataDir string, log *slog.Logger, opts ...planner.Option) (stop func()) {
	t.Helper()
	if log == nil {
		log = quietLog()
	}
	cfg.ApplyDefaults() // as config.Load does; tests build their configs in code
	s, err := planner.New(cfg, service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Log: log.With("svc", "planner", "instance", instance),
		Health: obs.NewHealth(), Instance: instance, DataDir: dataDir, Getenv: os.Getenv}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return servicetest.Run(t, "planner "+instance, s)
}

// recordLive puts what the watcher would record into the inventory: the
// object ref exists live (an unimported object is one the plan would
// create that the inventory has).
func recordLive(t testing.TB, l *lab.Lab, env *eventstest.Env, ref events.ObjectRef) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := live.NewCluster(l.RESTConfig(), ref.Cluster)
	if err != nil {
		t.Fatal(err)
	}
	rec, ok, err := cl.Get(ctx, ref)
	if err != nil || !ok {
		t.Fatalf("live %s: found %v, %v", ref.Name, ok, err)
	}
	if _, err := events.PutJSON(ctx, env.Buckets.Inventory, events.InventoryKey(rec.Object), rec); err != nil {
		t.Fatal(err)
	}
}
