package tofu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	tfjson "github.com/hashicorp/terraform-json"
)

// ShowPlanFile returns a plan file as show -json has it, all of it.
func (r *Runner) ShowPlanFile(ctx context.Context, file string) (*tfjson.Plan, error) {
	tf, err := r.terraform(ctx, "show")
	if err != nil {
		return nil, err
	}
	p, err := tf.ShowPlanFile(ctx, file)
	if err != nil {
		return nil, r.classify(ctx, "show", err)
	}
	return p, nil
}

// planChanges is the part of show -json's plan representation ShowChanges
// reads. The rest — prior_state above all, which holds every resource of
// the workspace, and the configuration — grows with the workspace and is
// skipped by the decoder instead of being built into values.
type planChanges struct {
	FormatVersion    string                   `json:"format_version"`
	TerraformVersion string                   `json:"terraform_version"`
	ResourceDrift    []*tfjson.ResourceChange `json:"resource_drift"`
	ResourceChanges  []*tfjson.ResourceChange `json:"resource_changes"`
}

// ShowChanges runs show -json on a plan file and decodes its resource drift
// and resource changes into terraform-json types, exactly as ShowPlanFile
// would (numbers as float64). The returned plan has no prior state, planned
// values, configuration or output changes. A failure carries the tool's
// stderr.
func (r *Runner) ShowChanges(ctx context.Context, file string) (*tfjson.Plan, error) {
	if err := ctx.Err(); err != nil {
		return nil, r.classify(ctx, "show", err)
	}
	cmd := r.command(ctx, "show", "-json", "-no-color", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, r.classify(ctx, "show", fmt.Errorf("show: %w (%w)", ctx.Err(), err))
		}
		return nil, r.classify(ctx, "show", fmt.Errorf("show: %w\n%s", err, stderr.String()))
	}
	p, err := DecodeChanges(stdout.Bytes())
	return p, r.classify(ctx, "show", err)
}

// DecodeChanges decodes a plan's JSON representation the way ShowChanges
// does.
func DecodeChanges(b []byte) (*tfjson.Plan, error) {
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
