package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		op, text string
		want     Kind
	}{
		{"plan", "Error: Error acquiring the state lock\n\nLock Info:\n  ID: x", KindLock},
		{"init", "Error: error configuring S3 Backend: InvalidAccessKeyId: The Access Key Id you provided does not exist", KindCredentials},
		{"plan", "Error: Unauthorized", KindCredentials},
		{"init", "Error: Failed to query available provider packages\n\nCould not retrieve the list", KindProvider},
		{"init", "Error: Inconsistent dependency lock file", KindProvider},
		{"plan", "Error: Unsupported argument\n\n  on main.tf line 3", KindConfig},
		{"init", "Error: Argument or block definition required", KindConfig},
		{"plan", `Error: Get "https://127.0.0.1:6443/api/v1/namespaces/shop": dial tcp 127.0.0.1:6443: connect: connection refused`, KindUnreachable},
		{"plan", "write plan: no space left on device", KindDiskLow},
		{"init", "Error: something odd", KindInit},
		{"plan", "Error: something odd", KindTool},
	}
	for _, tt := range tests {
		if got := kindOf(tt.op, tt.text); got != tt.want {
			t.Errorf("kindOf(%s, %q) = %s, want %s", tt.op, tt.text, got, tt.want)
		}
	}
}

func TestClassifyError(t *testing.T) {
	err := Classify(context.Background(), "m", "plan", errors.New("exit status 1\n\n│ Error: Error acquiring the state lock\n│ \n│ Lock Info:\n│   ID: 123"))
	if !errors.Is(err, ErrLock) || errors.Is(err, ErrInit) {
		t.Fatalf("lock: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Workspace != "m" || e.Op != "plan" || !strings.HasPrefix(e.Summary, "Error acquiring the state lock") {
		t.Fatalf("details: %+v", e)
	}
	if e.Kind.Condition() != "LockHeld" {
		t.Fatalf("condition %s", e.Kind.Condition())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Classify(ctx, "m", "plan", errors.New("signal: interrupt")); !errors.Is(err, ErrCanceled) {
		t.Fatalf("canceled: %v", err)
	}
	if Classify(context.Background(), "m", "plan", nil) != nil {
		t.Fatal("nil stays nil")
	}
}

func TestSummaryLeavesDetailsOut(t *testing.T) {
	s := summary("exit status 1\n\nError: Invalid value for variable\n\n  on vars.tf line 1:\n  password = \"hunter2\"\n")
	if strings.Contains(s, "hunter2") || !strings.HasPrefix(s, "Invalid value for variable") {
		t.Fatalf("summary %q", s)
	}
}

func TestPlanOptions(t *testing.T) {
	// Rendered through a fake command line: every plan is -lock=false with
	// its targets and var files.
	opts := PlanOptions("/p/x.tfplan", []string{"kubernetes_deployment.web", `module.a.kubectl_manifest.pg["x"]`}, []string{"/m/prod.tfvars"}, 4)
	var kinds []string
	for _, o := range opts {
		kinds = append(kinds, strings.TrimPrefix(reflect.TypeOf(o).String(), "*tfexec."))
	}
	want := []string{"LockOption", "RefreshOption", "OutOption", "ParallelismOption", "VarFileOption", "TargetOption", "TargetOption"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("options %v, want %v", kinds, want)
	}
	if reflect.ValueOf(opts[0]).Elem().Field(0).Bool() {
		t.Fatal("lock must be false")
	}
}

func TestToolEnv(t *testing.T) {
	env := ToolEnv([]string{"PATH=/bin", "TF_LOG=TRACE", "TF_CLI_ARGS_plan=-lock=true", "HOME=/root"},
		map[string]string{"AWS_ACCESS_KEY_ID": "ak"}, "/data/plugin-cache")
	if env["PATH"] != "/bin" || env["AWS_ACCESS_KEY_ID"] != "ak" || env["TF_PLUGIN_CACHE_DIR"] != "/data/plugin-cache" {
		t.Fatalf("env %v", env)
	}
	if _, ok := env["TF_CLI_ARGS_plan"]; ok {
		t.Fatal("TF_CLI_ARGS_* must not reach the tool: it could turn locking back on")
	}
	if _, ok := env["TF_LOG"]; ok {
		t.Fatal("TF_LOG is managed by terraform-exec")
	}
}

func TestSyncModule(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write := func(dir, rel, s string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(src, "main.tf", `resource "x" "y" {}`)
	write(src, "vars/prod.tfvars", `a = 1`)
	write(src, "terraform.tfstate", `{}`)
	write(src, ".terraform/providers/x", `bin`)
	sum1, err := syncModule(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"terraform.tfstate", ".terraform/providers/x"} {
		if _, err := os.Stat(filepath.Join(dst, rel)); err == nil {
			t.Errorf("%s must not be copied", rel)
		}
	}
	// Init artifacts in the working copy survive a sync.
	write(dst, ".terraform/terraform.tfstate", `{}`)
	write(dst, ".terraform.lock.hcl", `# generated`)
	sum2, err := syncModule(src, dst)
	if err != nil || sum2 != sum1 {
		t.Fatalf("unchanged module: %v %s %s", err, sum1, sum2)
	}
	if _, err := os.Stat(filepath.Join(dst, ".terraform/terraform.tfstate")); err != nil {
		t.Fatal("the working copy's .terraform was removed")
	}
	// A var file change does not call for init; a .tf change does.
	write(src, "vars/prod.tfvars", `a = 2`)
	if sum3, _ := syncModule(src, dst); sum3 != sum1 {
		t.Fatal("var files are not init-relevant")
	}
	write(src, "extra.tf", `locals {}`)
	sum4, _ := syncModule(src, dst)
	if sum4 == sum1 {
		t.Fatal("a new .tf file must change the digest")
	}
	os.Remove(filepath.Join(src, "extra.tf"))
	if _, err := syncModule(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "extra.tf")); err == nil {
		t.Fatal("a file removed from the module must leave the working copy")
	}
}

func TestDiskGuard(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tofu")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := New(Workspace{Name: "w", Dir: dir, Binary: bin}, Options{DataDir: filepath.Join(dir, "data"), MinFreeBytes: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Plan(context.Background(), nil)
	if !errors.Is(err, ErrDiskLow) {
		t.Fatalf("want a disk-low refusal, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "workspaces")); err == nil {
		t.Fatal("nothing may be written below the threshold")
	}
}

func TestNewFindsBinaryOnToolPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "terraform"), []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	r, err := New(Workspace{Name: "w", Dir: dir, Binary: "terraform"}, Options{DataDir: t.TempDir(), Environ: []string{"PATH=" + dir}})
	if err != nil || r.ExecPath() != filepath.Join(dir, "terraform") {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := New(Workspace{Name: "w", Dir: dir, Binary: "tofu"}, Options{DataDir: t.TempDir(), Environ: []string{"PATH=" + dir}}); err == nil {
		t.Fatal("a missing binary must be an error")
	}
}
