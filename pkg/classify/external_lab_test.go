package classify_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/test/lab"
)

// externalConfig is a workspace of resources outside the cluster only:
// hashicorp/local's local_file (drifts when someone edits or deletes the
// file) and the built-in terraform_data.
const externalConfig = `
terraform {
  required_providers {
    local = { source = "hashicorp/local", version = "` + lab.ProviderLocalVersion + `" }
  }
}
variable "dir" { type = string }
variable "greeting" {
  type    = string
  default = "hello"
}
variable "token" {
  type      = string
  sensitive = true
}
variable "extra" {
  type    = bool
  default = false
}
resource "local_file" "motd" {
  filename = "${var.dir}/motd.txt"
  content  = "${var.greeting}\n"
}
resource "local_file" "token" {
  filename          = "${var.dir}/token"
  sensitive_content = var.token
}
resource "local_file" "extra" {
  count    = var.extra ? 1 : 0
  filename = "${var.dir}/extra.txt"
  content  = "extra\n"
}
resource "terraform_data" "release" {
  input = var.greeting
}
`

// TestExternalResourcesLab classifies real plans (OpenTofu 1.10 and
// Terraform 1.5.7 with hashicorp/local 1.4.0) of resources outside the
// cluster: a file edited or deleted outside Terraform is deleted (the
// provider drops a file whose checksum differs from state, so Terraform
// itself cannot tell the two apart), attributed outside the cluster, with no
// object; config edits are pending-config (creates too: driftgate cannot
// look outside the cluster for an existing resource); no live object is
// ever looked up; a sensitive value never reaches a finding or an excerpt.
func TestExternalResourcesLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tofu and terraform")
	}
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{tools.Tofu, tools.Terraform} {
		t.Run(filepath.Base(bin), func(t *testing.T) {
			if err := tools.Check(bin, tools.CLIConfigFile); err != nil {
				t.Fatal(err)
			}
			testExternal(t, bin, tools.CLIConfigFile)
		})
	}
}

type externalWS struct {
	t     *testing.T
	tf    *tfexec.Terraform
	dir   string // the module
	files string // where its files go
}

func (w externalWS) vars(greeting, token string, extra bool) {
	w.t.Helper()
	b, _ := json.Marshal(map[string]any{"dir": w.files, "greeting": greeting, "token": token, "extra": extra})
	if err := os.WriteFile(filepath.Join(w.dir, "lab.auto.tfvars.json"), b, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w externalWS) plan() *tfjson.Plan {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(w.dir, "lab.tfplan")
	if _, err := w.tf.Plan(ctx, tfexec.Out(out)); err != nil {
		w.t.Fatal(err)
	}
	p, err := w.tf.ShowPlanFile(ctx, out)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// classifyPlan classifies p with no live view at all: a lookup of a live
// object would dereference nil and fail the test.
func classifyPlan(t *testing.T, p *tfjson.Plan) []classify.Result {
	t.Helper()
	c := classify.New(classify.Workspace{Name: "mixed", Cluster: "lab"}, nil)
	rs, err := c.Classify(context.Background(), classify.Input{Plan: p, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func summary(rs []classify.Result) []string {
	var out []string
	for _, r := range rs {
		f := r.Finding
		out = append(out, f.Class+" "+f.Address+" ["+strings.Join(f.Paths, ",")+"] "+r.Planned+" "+f.Risk)
	}
	sort.Strings(out)
	return out
}

func testExternal(t *testing.T, bin, cliConfig string) {
	dir := t.TempDir()
	w := externalWS{t: t, dir: filepath.Join(dir, "module"), files: filepath.Join(dir, "files")}
	for _, d := range []string{w.dir, w.files} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.dir, "main.tf"), []byte(externalConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.tf, err = tfexec.NewTerraform(w.dir, bin); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TF_CLI_CONFIG_FILE": cliConfig, "CHECKPOINT_DISABLE": "1", "PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	if err := w.tf.SetEnv(env); err != nil {
		t.Fatal(err)
	}
	const canary = "canary-7f3e-token-value"
	w.vars("hello", canary, false)
	ctx := context.Background()
	if err := w.tf.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.tf.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	motd := filepath.Join(w.files, "motd.txt")

	check := func(t *testing.T, want ...string) []classify.Result {
		t.Helper()
		rs := classifyPlan(t, w.plan())
		got := summary(rs)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		b, _ := json.Marshal(rs)
		if strings.Contains(string(b), canary) {
			t.Fatalf("the sensitive value is in a result: %s", b)
		}
		return rs
	}
	outside := func(t *testing.T, r classify.Result) {
		t.Helper()
		f := r.Finding
		if f.Object != (events.ObjectRef{Cluster: "lab"}) || f.Object.String() != "-" {
			t.Errorf("%s: object %+v, want none", f.Address, f.Object)
		}
		if len(f.Attribution) != 1 || f.Attribution[0].Manager != classify.OutsideCluster {
			t.Errorf("%s: attribution %+v, want %q", f.Address, f.Attribution, classify.OutsideCluster)
		}
		if !strings.Contains(r.Reason, "hashicorp/local") {
			t.Errorf("%s: reason %q does not name the provider", f.Address, r.Reason)
		}
	}

	t.Run("CleanPlanHasNoFindings", func(t *testing.T) { check(t) })

	t.Run("EditedFileIsDeleted", func(t *testing.T) {
		if err := os.WriteFile(motd, []byte("edited by hand\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		rs := check(t, "deleted local_file.motd [] create low")
		outside(t, rs[0])
		if !gate.Failing(rs[0].Finding) || rs[0].Finding.RecommendedAction != classify.ActionRecreate {
			t.Errorf("%+v does not fail the gate with recreate", rs[0].Finding)
		}
		if err := os.WriteFile(motd, []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		check(t)
	})

	t.Run("DeletedFileIsDeleted", func(t *testing.T) {
		if err := os.Remove(motd); err != nil {
			t.Fatal(err)
		}
		outside(t, check(t, "deleted local_file.motd [] create low")[0])
		if err := w.tf.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		check(t)
	})

	t.Run("ConfigEditsArePendingConfig", func(t *testing.T) {
		w.vars("hi", canary+"-rotated", true)
		defer w.vars("hello", canary, false)
		rs := check(t,
			"pending-config local_file.extra[0] [] create low",
			"pending-config local_file.motd [content] replace high",
			"pending-config local_file.token [sensitive_content] replace high",
			"pending-config terraform_data.release [input] update low")
		for _, r := range rs {
			if len(r.Finding.Attribution) != 0 {
				t.Errorf("%s: a config edit attributed to %+v", r.Finding.Address, r.Finding.Attribution)
			}
			if r.Finding.Address == "local_file.token" && r.Excerpt.After["sensitive_content"] != "(sensitive)" {
				t.Errorf("token excerpt %+v, want redacted", r.Excerpt)
			}
		}
	})
}
