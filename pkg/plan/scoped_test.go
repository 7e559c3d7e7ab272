package plan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// scopedTool is showTool that also records, on plan, the state file its
// working copy's backend override names (so the test sees what the plan
// was given).
const scopedTool = `#!/bin/sh
case "$1" in
version) echo '{"terraform_version":"1.10.10","platform":"linux_amd64","provider_selections":{}}' ;;
init) mkdir -p .terraform ;;
plan)
  if [ -f zzz_driftgate_scoped_state_override.tf.json ]; then
    path=$(sed -n 's/.*"path": "\(.*\)".*/\1/p' zzz_driftgate_scoped_state_override.tf.json)
    cp "$path" "$SEEN"
  fi
  exit 0 ;;
esac
`

func TestPlanScopedRefusesWhatALocalCopyCannotPlan(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		override string // an extra file in the module
		targets  []string
	}{
		{"no targets", nil, "", nil},
		{"TF_DATA_DIR", map[string]string{"TF_DATA_DIR": "/tmp/shared"}, "", []string{"a.b"}},
		{"an override merged after driftgate's", nil, "zzzz_override.tf", []string{"a.b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, dir := fakeRunner(t, scopedTool, c.env)
			if c.override != "" {
				if err := os.WriteFile(filepath.Join(dir, "module", c.override), []byte("terraform {}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := r.PlanScoped(context.Background(), c.targets, []byte(`{"version": 4}`))
			if !errors.Is(err, ErrNotScopable) {
				t.Fatalf("err %v, want ErrNotScopable", err)
			}
		})
	}
}

func TestPlanScopedPlansOnTheGivenStateInItsOwnCopy(t *testing.T) {
	seen := filepath.Join(t.TempDir(), "seen.tfstate")
	r, _ := fakeRunner(t, scopedTool, map[string]string{"SEEN": seen})
	r.o.SkipCleanShow = true
	state := []byte(`{"version": 4, "serial": 3, "lineage": "l", "resources": []}`)
	res, err := r.PlanScoped(context.Background(), []string{"kubernetes_namespace.ns"}, state)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Scoped || res.Changes {
		t.Fatalf("result %+v", res)
	}
	if got, err := os.ReadFile(seen); err != nil || string(got) != string(state) {
		t.Fatalf("the plan saw %q (%v), want the given state", got, err)
	}
	if _, err := os.Stat(r.scopedStatePath()); !os.IsNotExist(err) {
		t.Fatalf("the scoped state file stays after the plan: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(r.scopedDir, scopedOverride))
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Terraform struct {
			Backend map[string]map[string]string `json:"backend"`
		} `json:"terraform"`
	}
	if err := json.Unmarshal(b, &o); err != nil || len(o.Terraform.Backend) != 1 || o.Terraform.Backend["local"]["path"] != r.scopedStatePath() {
		t.Fatalf("override %s (%v)", b, err)
	}
	// The main working copy has no override: its plans use the backend.
	if _, err := os.Stat(filepath.Join(r.moduleDir, scopedOverride)); !os.IsNotExist(err) {
		t.Fatalf("the main working copy has the override: %v", err)
	}
}
