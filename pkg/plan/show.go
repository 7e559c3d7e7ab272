package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	tfjson "github.com/hashicorp/terraform-json"
)

// planChanges is the part of `show -json`'s plan representation the planner
// reads. The rest — prior_state above all, which holds every resource of
// the workspace, and the configuration — grows with the workspace and is
// skipped by the decoder instead of being built into values.
type planChanges struct {
	FormatVersion    string                   `json:"format_version"`
	TerraformVersion string                   `json:"terraform_version"`
	ResourceDrift    []*tfjson.ResourceChange `json:"resource_drift"`
	ResourceChanges  []*tfjson.ResourceChange `json:"resource_changes"`
}

// showChanges runs `show -json` on a plan file and decodes its resource
// drift and resource changes into terraform-json types, exactly as
// terraform-exec's ShowPlanFile would (numbers as float64). The returned
// plan has no prior state, planned values, configuration or output changes.
//
// It runs the tool as terraform-exec does: in the working dir, with the
// runner's environment, in its own process group, interrupted with SIGINT
// when ctx ends and killed only WaitDelay later; a failure carries the
// tool's stderr.
func (r *Runner) showChanges(ctx context.Context, file string) (*tfjson.Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, r.execPath, "show", "-json", "-no-color", file)
	cmd.Dir = r.moduleDir
	cmd.Env = make([]string, 0, len(r.env)+1)
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "TF_IN_AUTOMATION=1")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = r.o.WaitDelay
	cmd.SysProcAttr = sysProcAttr()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("show: %w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("show: %w\n%s", err, stderr.String())
	}
	return decodeChanges(stdout.Bytes())
}

// decodeChanges decodes a plan's JSON representation as planChanges.
func decodeChanges(b []byte) (*tfjson.Plan, error) {
	var pc planChanges
	if err := json.Unmarshal(b, &pc); err != nil {
		return nil, fmt.Errorf("show: decode the JSON plan: %w", err)
	}
	p := &tfjson.Plan{FormatVersion: pc.FormatVersion, TerraformVersion: pc.TerraformVersion,
		ResourceDrift: pc.ResourceDrift, ResourceChanges: pc.ResourceChanges}
	// Validate checks the format version (and that there is one).
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("show: %w", err)
	}
	return p, nil
}
