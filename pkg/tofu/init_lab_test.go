package tofu_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// TestInitsShareOneCacheLab runs ten inits of ten working dirs that share
// one plugin cache, all at once, from one process (as a planner replica
// with several plan slots does): every one succeeds. Unserialized,
// OpenTofu 1.10 crashes in providercache.LinkFromOtherCache when two inits
// link from one cache at the same time.
func TestInitsShareOneCacheLab(t *testing.T) {
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Check(tools.Tofu, tools.CLIConfigFile); err != nil {
		t.Fatal(err)
	}
	module := `terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" }
    kubectl    = { source = "gavinbunney/kubectl", version = "1.19.0" }
  }
}
`
	cache := filepath.Join(t.TempDir(), "plugins")
	ctx := context.Background()
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(module), 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := tofu.New(tofu.Options{Name: fmt.Sprintf("ws-%d", i), Dir: dir, Binary: tools.Tofu,
			Environ:     append(os.Environ(), "TF_CLI_CONFIG_FILE="+tools.CLIConfigFile, "CHECKPOINT_DISABLE=1"),
			PluginCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Init(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("init %d: %v", i, err)
		}
	}
}
