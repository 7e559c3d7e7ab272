package tofu_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// TestCatalogLab reads the schema of the lab's real providers
// (hashicorp/kubernetes 1.13.4, gavinbunney/kubectl 1.19.0) through
// `providers schema -json`: every Kubernetes type they have maps to an
// object driftgate knows.
func TestCatalogLab(t *testing.T) {
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Check(tools.Tofu, tools.CLIConfigFile); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	module := `terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" }
    kubectl    = { source = "gavinbunney/kubectl", version = "1.19.0" }
  }
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(module), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := tofu.New(tofu.Options{Name: "catalog", Dir: dir, Binary: tools.Tofu,
		Environ:     append(os.Environ(), "TF_CLI_CONFIG_FILE="+tools.CLIConfigFile, "CHECKPOINT_DISABLE=1"),
		PluginCache: filepath.Join(t.TempDir(), "plugins")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Init(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := r.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"kubernetes_deployment", "kubernetes_ingress", "kubernetes_namespace", "kubectl_manifest"} {
		if !c.Known(typ) || c.Check(typ) != nil {
			t.Errorf("%s: known %v, check %v", typ, c.Known(typ), c.Check(typ))
		}
	}
	if c.Known("kubernetes_deployment_v1") {
		t.Error("provider 1.13.4 has no _v1 types")
	}
	if u := c.Unmapped(); len(u) != 0 {
		t.Errorf("types of the lab's providers that map to no object: %v", u)
	}
	t.Logf("%d resource types", c.Len())

	// A second workspace with the same providers holds the same schema:
	// one copy in the process, not one per workspace.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "main.tf"), []byte(module), 0o600); err != nil {
		t.Fatal(err)
	}
	r2, err := tofu.New(tofu.Options{Name: "catalog-2", Dir: dir2, Binary: tools.Tofu,
		Environ:     append(os.Environ(), "TF_CLI_CONFIG_FILE="+tools.CLIConfigFile, "CHECKPOINT_DISABLE=1"),
		PluginCache: filepath.Join(t.TempDir(), "plugins")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Init(ctx); err != nil {
		t.Fatal(err)
	}
	s1, err := r.ProvidersSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r2.ProvidersSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s1 != s2 {
		t.Error("two workspaces with the same providers hold two copies of their schema")
	}
}
