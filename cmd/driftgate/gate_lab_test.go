package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/test/lab"
)

// TestGateCLILab runs `driftgate gate` as CI would, against the lab with
// OpenTofu: exit 0 when clean, 2 on drift (JSON per DESIGN.md), 0 again when
// the only difference is an --allow'ed change, 1 for a broken config.
func TestGateCLILab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := l.NewWorkspace(t, "../../examples/marketplace", lab.Tofu, "cli/marketplace.tfstate")
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(`namespace = "cli"`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	for _, kv := range l.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfgFile := filepath.Join(t.TempDir(), "driftgate.yaml")
	cfg := fmt.Sprintf(`clusters:
  - name: lab
    kubeconfig: %s
workspaces:
  - name: marketplace
    cluster: lab
    dir: %s
    binary: tofu
    namespaces: [cli]
`, l.Kubeconfig, w.Dir)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	gate := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := dispatch(append([]string{"gate", "--config", cfgFile, "--workspace", "marketplace", "--data-dir", data}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}

	if out, errOut, code := gate(); code != 0 {
		t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
	}

	if _, err := l.Kube().AppsV1().Deployments("cli").Patch(ctx, "marketplace", types.MergePatchType, []byte(`{"spec":{"replicas":6}}`),
		metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := gate("-o", "json")
	if code != 2 {
		t.Fatalf("drift: exit %d\n%s%s", code, out, errOut)
	}
	var rep struct {
		Workspace string           `json:"workspace"`
		Clean     bool             `json:"clean"`
		Findings  []map[string]any `json:"findings"`
		Plan      struct {
			DurationMS int64    `json:"duration_ms"`
			Targets    []string `json:"targets"`
		} `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Clean || rep.Workspace != "marketplace" || len(rep.Findings) != 1 ||
		rep.Findings[0]["class"] != "changed" || rep.Plan.DurationMS <= 0 || rep.Plan.Targets == nil {
		t.Fatalf("drift JSON: %v\n%s", err, out)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte("namespace = \"cli\"\nmarketplace_replicas = 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := gate(); code != 2 {
		t.Fatalf("unintended change: exit %d, want 2", code)
	}
	if out, errOut, code := gate("--allow", "kubernetes_deployment.marketplace", "-o", "markdown"); code != 0 || !strings.Contains(out, "allowed") {
		t.Fatalf("intended change only: exit %d\n%s%s", code, out, errOut)
	}

	if err := os.WriteFile(filepath.Join(w.Dir, "broken.tf"), []byte("resource \"kubernetes_config_map\" \"b\" {\n  nope = 1\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = gate()
	if code != 1 || !strings.HasPrefix(errOut, "driftgate gate: ") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("broken config: exit %d, stderr %q (want 1 and one line)", code, errOut)
	}
}
