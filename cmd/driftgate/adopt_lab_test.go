package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftgate/driftgate/test/controllers/operator"
	"github.com/driftgate/driftgate/test/lab"
)

// adoptExtra is added to the marketplace example: a for_each resource whose
// keys need quoting in an address, a cluster-scoped object and a custom
// resource (a CloudNativePG Cluster through kubectl_manifest: provider
// 1.13.4 has no kubernetes_manifest).
const adoptExtra = `
resource "kubernetes_config_map" "keyed" {
  for_each = toset(["a.b", "with space", "q\"uote"])
  metadata {
    name      = "keyed-${replace(replace(each.key, " ", "-"), "\"", "")}"
    namespace = local.ns
  }
  data = { key = each.key }
}

resource "kubernetes_cluster_role" "reader" {
  metadata { name = "${var.namespace}-reader" }
  rule {
    api_groups = [""]
    resources  = ["configmaps"]
    verbs      = ["get"]
  }
}

resource "kubectl_manifest" "db" {
  yaml_body = yamlencode({
    apiVersion = "postgresql.cnpg.io/v1"
    kind       = "Cluster"
    metadata   = { name = "db", namespace = local.ns }
    spec       = { instances = 1, storage = { size = "1Gi" } }
  })
  depends_on = [kubernetes_namespace.shop]
}
`

// adoptCanary is the value of the unmanaged Secret: it must be in no file.
const adoptCanary = "CANARY-adopt-7f3c1e9b"

// TestAdoptLab is seed 000 made idempotent as code, against the lab with
// OpenTofu and with Terraform 1.5.7: the marketplace's objects (plus a
// for_each resource, a cluster-scoped object and a custom resource) are
// live and the state is empty; driftgate adopt --generate-config writes the
// import blocks (and the configuration of an unmanaged ConfigMap and
// Secret), twice the same bytes; the gate exits 0 on the pending imports
// alone; plan shows only imports (in-place updates of what the import does
// not read back, no create, no destroy); apply changes no live object (uid,
// resourceVersion, generation); the gate is clean after it and after the
// import blocks are deleted; the Secret's value is in no file.
func TestAdoptLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := operator.InstallCRDs(ctx, l.Dynamic()); err != nil {
		t.Fatal(err)
	}
	for _, kv := range l.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// Both tools side by side (namespaces, states and data dirs of their
	// own): most of the time is spent waiting on the tools.
	t.Run("tools", func(t *testing.T) {
		for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
			t.Run(string(bin), func(t *testing.T) {
				t.Parallel()
				testAdopt(ctx, t, l, bin)
			})
		}
	})
}

func testAdopt(ctx context.Context, t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns := "adopt-" + string(bin)
	tfvars := []byte(fmt.Sprintf("namespace = %q\n", ns))
	prepare := func(key string) *lab.Workspace {
		w := l.NewWorkspace(t, "../../examples/marketplace", bin, key)
		for name, b := range map[string][]byte{"extra.tf": []byte(adoptExtra), "lab.auto.tfvars": tfvars} {
			if err := os.WriteFile(filepath.Join(w.Dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Init(ctx); err != nil {
			t.Fatal(err)
		}
		return w
	}
	// The objects are live, applied from another state.
	if err := prepare("seed/" + ns + ".tfstate").Apply(ctx); err != nil {
		t.Fatal(err)
	}
	// Two objects nobody's configuration has.
	kube := l.Kube()
	create := metav1.CreateOptions{FieldManager: "kubectl-create"}
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-settings"},
		Data: map[string]string{"MODE": "blue"}}, create); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-token"},
		StringData: map[string]string{"TOKEN": adoptCanary}}, create); err != nil {
		t.Fatal(err)
	}

	w := prepare("adopt/" + ns + ".tfstate")
	cfgFile := filepath.Join(t.TempDir(), "driftgate.yaml")
	cfg := fmt.Sprintf(`clusters:
  - name: lab
    kubeconfig: %s
workspaces:
  - name: shop
    cluster: lab
    dir: %s
    binary: %s
    namespaces: [%s]
    high_risk_kinds: [clusters.postgresql.cnpg.io]
`, l.Kubeconfig, w.Dir, l.BinaryPath(bin), ns)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	var outputs strings.Builder
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := dispatch(append(args[:1:1], append([]string{"--config", cfgFile, "--workspace", "shop", "--data-dir", data}, args[1:]...)...), &out, &errb)
		outputs.WriteString(out.String() + errb.String())
		return out.String() + errb.String(), code
	}
	before := liveVersions(ctx, t, l, ns)

	out, code := run("adopt", "--generate-config")
	if code != 0 {
		t.Fatalf("adopt: exit %d\n%s", code, out)
	}
	t.Logf("adopt:\n%s", out)
	file := filepath.Join(w.Dir, "driftgate_imports.tf")
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if formatted, err := w.TF.FormatString(ctx, string(first)); err != nil || formatted != string(first) {
		t.Errorf("the file is not as %s fmt lays it out (%v):\n%s", bin, err, first)
	}
	tos := regexp.MustCompile(`(?m)^  to = (.+)$`).FindAllStringSubmatch(string(first), -1)
	var addrs []string
	for _, m := range tos {
		addrs = append(addrs, m[1])
	}
	// 10 marketplace objects, 3 keyed ConfigMaps, the ClusterRole, the
	// Cluster; 2 generated.
	if len(addrs) != 17 {
		t.Fatalf("%d import blocks, want 17: %v\n%s", len(addrs), addrs, first)
	}
	if addrs[0] != "kubectl_manifest.db" || addrs[1] != "kubernetes_secret.marketplace" {
		t.Errorf("import order: %v (the stateful Cluster, then the high-risk Secret first)", addrs[:2])
	}
	for _, want := range []string{`kubernetes_config_map.keyed["q\"uote"]`, `kubernetes_config_map.keyed["with space"]`,
		"kubernetes_cluster_role.reader", "kubernetes_config_map.app_settings", "kubernetes_secret.app_token"} {
		if !strings.Contains(string(first), "  to = "+want+"\n") {
			t.Errorf("no import block to %s", want)
		}
	}
	for _, want := range []string{`id = "` + ns + `-reader"`, `id = "postgresql.cnpg.io/v1//Cluster//db//` + ns + `"`,
		"#    created by kubectl-create", `resource "kubernetes_secret" "app_token" {`, "ignore_changes = [data]",
		`resource "kubernetes_config_map" "app_settings" {`, `MODE = "blue"`} {
		if !strings.Contains(string(first), want) {
			t.Errorf("the file has no %q\n%s", want, first)
		}
	}

	// Again, as markdown for a pull request: the same bytes.
	out, code = run("adopt", "--generate-config", "-o", "markdown")
	if code != 0 {
		t.Fatalf("adopt again: exit %d\n%s", code, out)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(first, again) {
		t.Errorf("adopt twice wrote different bytes")
	}
	if !strings.Contains(out, "## Decision table: workspace `shop`") || !strings.Contains(out, "```diff\n ") ||
		!strings.Contains(out, "(unchanged)") || !strings.Contains(out, "**import**") ||
		!strings.Contains(out, "config matches live") || strings.Contains(out, "how far config and live differ is unknown") {
		t.Errorf("markdown:\n%s", out)
	}

	// The gate passes on the pending imports alone.
	out, code = run("gate")
	if code != 0 || !strings.Contains(out, "17 imports pending in driftgate_imports.tf, nothing else") {
		t.Fatalf("gate after adopt: exit %d\n%s", code, out)
	}

	// plan: only imports.
	p, err := w.PlanJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(w.Dir, "lab.tfplan"))
	imports, updates := 0, 0
	for _, rc := range p.ResourceChanges {
		a := rc.Change.Actions
		switch {
		case rc.Change.Importing != nil && (a.NoOp() || a.Update()):
			imports++
			if a.Update() {
				updates++
			}
		default:
			t.Errorf("plan: %s %v (importing %v)", rc.Address, a, rc.Change.Importing)
		}
	}
	if imports != 17 {
		t.Errorf("plan: %d to import, want 17", imports)
	}
	t.Logf("plan: %d to import (%d of them updated in place), 0 to add, 0 to destroy", imports, updates)
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if after := liveVersions(ctx, t, l, ns); !equalMaps(before, after) {
		t.Errorf("apply changed live objects:\nbefore %v\nafter  %v", before, after)
	}
	if out, code = run("gate"); code != 0 || !strings.Contains(out, ": CLEAN\n") {
		t.Fatalf("gate after apply: exit %d\n%s", code, out)
	}
	// The import blocks done, they go; the generated configuration stays.
	kept := regexp.MustCompile(`(?s)import \{\n.*?\n\}\n`).ReplaceAll(first, nil)
	if err := os.WriteFile(file, kept, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code = run("gate"); code != 0 || !strings.Contains(out, ": CLEAN\n") {
		t.Fatalf("gate without the import blocks: exit %d\n%s\n%s", code, out, kept)
	}

	// The canary is in no file and no output.
	for _, dir := range []string{w.Dir, data} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				if d != nil && d.IsDir() && d.Name() == "providers" {
					return filepath.SkipDir
				}
				return err
			}
			if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(adoptCanary)) {
				t.Errorf("the Secret's value is in %s", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(outputs.String(), adoptCanary) {
		t.Error("the Secret's value is in driftgate's output")
	}
}

// liveVersions is uid, resourceVersion and generation of every object the
// test adopts (and the pods), by kind/namespace/name.
func liveVersions(ctx context.Context, t *testing.T, l *lab.Lab, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range []struct {
		gvr        schema.GroupVersionResource
		namespaced bool
	}{
		{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "services"}, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, true},
		{schema.GroupVersionResource{Version: "v1", Resource: "pods"}, true},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, true},
		{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, true},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, true},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, true},
		{schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}, true},
		{schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, false},
		{schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, false},
	} {
		ri := l.Dynamic().Resource(r.gvr)
		opts := metav1.ListOptions{}
		var items []map[string]any
		if r.namespaced {
			ul, err := ri.Namespace(ns).List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range ul.Items {
				items = append(items, u.Object)
			}
		} else {
			ul, err := ri.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range ul.Items {
				if u.GetName() == ns || u.GetName() == ns+"-reader" {
					items = append(items, u.Object)
				}
			}
		}
		for _, o := range items {
			md, _ := o["metadata"].(map[string]any)
			out[fmt.Sprintf("%s/%v", r.gvr.Resource, md["name"])] = fmt.Sprintf("uid=%v rv=%v gen=%v", md["uid"], md["resourceVersion"], md["generation"])
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
