package tofu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// PlanOptions narrow a plan. Every plan runs with -lock=false and
// -input=false: driftgate's plans never take the state lock, so they never
// block a CI apply, and never ask.
type PlanOptions struct {
	// Out is the plan file; Plan requires it, PlanJSON picks one.
	Out string
	// Targets narrow the plan (-target); none: the whole workspace.
	Targets []string
	// Parallelism is -parallelism; zero: the tool's default.
	Parallelism int
	// NoRefresh plans against the state as it is, without asking the
	// providers to read the live objects.
	NoRefresh bool
	// GenerateConfigOut is -generate-config-out: the file (which must not
	// exist) the tool writes resource blocks to for the import blocks whose
	// address has no configuration.
	GenerateConfigOut string
	// varFiles are the runner's var files, absolute.
	varFiles []string
}

// options renders the plan's command line: lock off, refresh, out,
// parallelism, var files, targets.
func (o PlanOptions) options() []tfexec.PlanOption {
	opts := []tfexec.PlanOption{tfexec.Lock(false), tfexec.Refresh(!o.NoRefresh), tfexec.Out(o.Out)}
	if o.Parallelism > 0 {
		opts = append(opts, tfexec.Parallelism(o.Parallelism))
	}
	for _, v := range o.varFiles {
		opts = append(opts, tfexec.VarFile(v))
	}
	if o.GenerateConfigOut != "" {
		opts = append(opts, tfexec.GenerateConfigOut(o.GenerateConfigOut))
	}
	for _, t := range o.Targets {
		opts = append(opts, tfexec.Target(t))
	}
	return opts
}

// Plan runs plan into o.Out and returns true when the plan has changes
// (detailed exit code 2). The plan file holds sensitive values: the caller
// deletes it.
func (r *Runner) Plan(ctx context.Context, o PlanOptions) (changes bool, err error) {
	tf, err := r.terraform(ctx, "plan")
	if err != nil {
		return false, err
	}
	o.varFiles = r.varFiles()
	changes, err = tf.Plan(ctx, o.options()...)
	return changes, r.classify(ctx, "plan", err)
}

// PlanJSON runs plan into a file of its own in the working dir and returns
// the whole plan as show -json has it; the file is deleted.
func (r *Runner) PlanJSON(ctx context.Context, o PlanOptions) (*tfjson.Plan, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	o.Out = filepath.Join(r.o.Dir, "driftgate-"+hex.EncodeToString(b)+".tfplan")
	defer os.Remove(o.Out)
	if _, err := r.Plan(ctx, o); err != nil {
		return nil, err
	}
	return r.ShowPlanFile(ctx, o.Out)
}

// Format is `fmt -` of src: the tool's canonical layout of a configuration.
func (r *Runner) Format(ctx context.Context, src []byte) ([]byte, error) {
	tf, err := r.terraform(ctx, "fmt")
	if err != nil {
		return nil, err
	}
	out, err := tf.FormatString(ctx, string(src))
	if err != nil {
		return nil, r.classify(ctx, "fmt", err)
	}
	return []byte(out), nil
}
