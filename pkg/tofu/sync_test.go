package tofu

import (
	"os"
	"path/filepath"
	"testing"
)

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
	sum1, err := SyncModule(src, dst)
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
	sum2, err := SyncModule(src, dst)
	if err != nil || sum2 != sum1 {
		t.Fatalf("unchanged module: %v %s %s", err, sum1, sum2)
	}
	if _, err := os.Stat(filepath.Join(dst, ".terraform/terraform.tfstate")); err != nil {
		t.Fatal("the working copy's .terraform was removed")
	}
	// A var file change does not call for init; a .tf change does.
	write(src, "vars/prod.tfvars", `a = 2`)
	if sum3, _ := SyncModule(src, dst); sum3 != sum1 {
		t.Fatal("var files are not init-relevant")
	}
	// A resource or locals edit does not either (a new revision of the
	// configuration re-inits only when init would do something else);
	// provider requirements, the backend and module sources do.
	write(src, "extra.tf", `locals {}`)
	if sum, _ := SyncModule(src, dst); sum != sum1 {
		t.Fatal("a locals block is not init-relevant")
	}
	write(src, "main.tf", `resource "x" "y" { a = 1 }`)
	if sum, _ := SyncModule(src, dst); sum != sum1 {
		t.Fatal("a resource edit is not init-relevant")
	}
	write(src, "main.tf", `resource "x" "y" { a = 1 }
resource "x_other" "z" {}`)
	if sum, _ := SyncModule(src, dst); sum != sum1 {
		t.Fatal("another resource of the same provider is not init-relevant")
	}
	prev := sum1
	for i, edit := range []string{
		`terraform { required_providers { kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" } } }`,
		`terraform { backend "s3" {} }`,
		`module "m" { source = "./m" }`,
		`module "m" { source = "./m2" }`,
		`module "m" { source = "./m2" }
resource "random_id" "r" {}`,
	} {
		write(src, "versions.tf", edit)
		sum, _ := SyncModule(src, dst)
		if sum == prev {
			t.Fatalf("edit %d (%s) must change the digest", i, edit)
		}
		prev = sum
	}
	write(src, "versions.tf", `module "m" {
  source = "./m2"
  input  = 2
}
resource "random_id" "r" { byte_length = 4 }`)
	if sum, _ := SyncModule(src, dst); sum != prev {
		t.Fatal("a module input is not init-relevant")
	}
	write(src, "extra.tf", `terraform {`)
	if sum, _ := SyncModule(src, dst); sum == prev {
		t.Fatal("a file that does not parse counts whole")
	}
	os.Remove(filepath.Join(src, "extra.tf"))
	if _, err := SyncModule(src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "extra.tf")); err == nil {
		t.Fatal("a file removed from the module must leave the working copy")
	}
}
