package plan

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// testdata/show-tofu-1.10.json is OpenTofu 1.10's `show -json` of a
// targeted plan of a drifted ConfigMap in a 10-resource workspace.
func TestDecodeChangesMatchesTerraformJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "show-tofu-1.10.json"))
	if err != nil {
		t.Fatal(err)
	}
	var full tfjson.Plan // what terraform-exec's ShowPlanFile returns
	if err := json.Unmarshal(b, &full); err != nil {
		t.Fatal(err)
	}
	got, err := tofu.DecodeChanges(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.ResourceDrift) == 0 || len(full.ResourceChanges) == 0 || full.PriorState == nil {
		t.Fatalf("fixture has no drift, changes or prior state: %+v", full)
	}
	if !reflect.DeepEqual(got.ResourceDrift, full.ResourceDrift) || !reflect.DeepEqual(got.ResourceChanges, full.ResourceChanges) {
		t.Fatal("resource drift or changes differ from terraform-json's decoding")
	}
	if got.FormatVersion != full.FormatVersion || got.TerraformVersion != full.TerraformVersion {
		t.Fatalf("versions %q %q, want %q %q", got.FormatVersion, got.TerraformVersion, full.FormatVersion, full.TerraformVersion)
	}
	if got.PriorState != nil || got.Config != nil {
		t.Fatal("the prior state and configuration are decoded")
	}
}

func TestDecodeChangesChecksTheFormat(t *testing.T) {
	for _, in := range []string{`{"resource_changes":[]}`, `{"format_version":"9.0"}`, `{"format_version":`} {
		if _, err := tofu.DecodeChanges([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}

// showTool plans with changes (detailed exit code 2) and answers show -json
// with $FIXTURE, or waits until interrupted when $HANG is set.
const showTool = `#!/bin/sh
case "$1" in
version) echo '{"terraform_version":"1.10.10","platform":"linux_amd64","provider_selections":{}}' ;;
init) mkdir -p .terraform ;;
plan) exit 2 ;;
show)
  [ "$2 $3" = "-json -no-color" ] || { echo "Error: unexpected arguments $*" >&2; exit 1; }
  [ -n "$FAIL" ] && { echo "Error: Failed to load plugin schemas" >&2; exit 1; }
  if [ -n "$HANG" ]; then
    trap 'echo INT > "$HANG"; exit 1' INT
    trap 'echo TERM > "$HANG"; exit 1' TERM
    echo started > "$HANG.started"
    while true; do sleep 0.05; done
  fi
  cat "$FIXTURE" ;;
esac
`

func showRunner(t *testing.T, env map[string]string) *Runner {
	r, _ := fakeRunner(t, showTool, env)
	return r
}

func TestPlanReadsChangesThroughShow(t *testing.T) {
	fixture, err := filepath.Abs(filepath.Join("testdata", "show-tofu-1.10.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := showRunner(t, map[string]string{"FIXTURE": fixture})
	res, err := r.Plan(context.Background(), []string{"kubernetes_config_map.cm[0]"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changes || res.Plan == nil || len(res.Plan.ResourceDrift) != 2 || res.Plan.ResourceDrift[0].Address != "kubernetes_config_map.cm[0]" {
		t.Fatalf("result %+v", res)
	}

	r = showRunner(t, map[string]string{"FIXTURE": fixture, "FAIL": "1"})
	_, err = r.Plan(context.Background(), nil)
	if !errors.Is(err, tofu.ErrProvider) || !strings.Contains(err.Error(), "show") {
		t.Fatalf("want a provider error from show, got %v", err)
	}
}

func TestCancelInterruptsShow(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "signal")
	r := showRunner(t, map[string]string{"HANG": marker})
	ctx := cancelWhenStarted(t, marker)
	_, err := r.Plan(ctx, nil)
	if !errors.Is(err, tofu.ErrCanceled) {
		t.Fatalf("want a canceled error, got %v", err)
	}
	got, _ := os.ReadFile(marker)
	if strings.TrimSpace(string(got)) != "INT" {
		t.Fatalf("show got %q, want SIGINT", got)
	}
}
