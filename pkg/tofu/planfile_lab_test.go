package tofu_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// planFileV1 is applied first; planFileV2 is then planned against it after
// live changes, so one plan holds every kind of entry: an update reverting
// live drift (updated), drift the configuration ignores (drift_only, in
// resource_drift only), a delete (deleted, gone from v2), a replace
// (replaced: metadata.name forces a new object, with replace_paths), a
// create with unknown values (created) whose data holds a sensitive
// variable, a secret whose sensitive data changes, an import block
// (imported, made live by hand), a data source read at apply time (its
// config is unknown), count and for_each indexes and a module.
const planFileV1 = `terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" }
  }
  backend "s3" {}
}
provider "kubernetes" {}
resource "kubernetes_namespace" "ns" {
  metadata { name = %[1]q }
}
resource "kubernetes_config_map" "updated" {
  metadata {
    name      = "updated"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { a = "1" }
}
resource "kubernetes_config_map" "drift_only" {
  metadata {
    name      = "drift-only"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { k = "v" }
  lifecycle { ignore_changes = [data] }
}
resource "kubernetes_config_map" "deleted" {
  metadata {
    name      = "deleted"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
}
resource "kubernetes_config_map" "replaced" {
  metadata {
    name      = "replaced-a"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
}
resource "kubernetes_secret" "secret" {
  metadata {
    name      = "secret"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { password = "p1" }
}
resource "kubernetes_config_map" "counted" {
  count = 2
  metadata {
    name      = "counted-${count.index}"
    namespace = kubernetes_namespace.ns.metadata[0].name
    labels    = { n = tostring(count.index) }
  }
}
resource "kubernetes_config_map" "each" {
  for_each = toset(["x"])
  metadata {
    name      = "each-${each.key}"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
}
module "m" {
  source = "./m"
  ns     = kubernetes_namespace.ns.metadata[0].name
}
`

const planFileV2Extra = `
variable "token" {
  type      = string
  sensitive = true
  default   = "s3cr3t"
}
resource "kubernetes_config_map" "created" {
  metadata {
    name      = "created"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { token = var.token, plain = "x" }
}
data "kubernetes_config_map" "read_later" {
  metadata {
    name      = kubernetes_config_map.created.metadata[0].name
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
}
resource "kubernetes_config_map" "imported" {
  metadata {
    name      = "imported"
    namespace = %[1]q
  }
  data = { i = "1" }
}
import {
  to = kubernetes_config_map.imported
  id = "%[1]s/imported"
}
`

const planFileModule = `variable "ns" {}
resource "kubernetes_config_map" "in_module" {
  metadata {
    name      = "in-module"
    namespace = var.ns
    labels    = { m = "1" }
  }
}
`

// TestDecodePlanFileLab plans real lab scenarios with OpenTofu and
// Terraform and checks that the native decoder reads each plan file
// exactly as show -json does.
func TestDecodePlanFileLab(t *testing.T) {
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testDecodePlanFile(t, l, bin) })
	}
}

func testDecodePlanFile(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ns := "planfile-" + string(bin)
	src := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.tf", fmt.Sprintf(planFileV1, ns))
	write("m/main.tf", planFileModule)
	w := l.NewWorkspace(t, src, bin, "planfile/"+string(bin)+".tfstate")
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := tofu.New(tofu.Options{Name: "planfile", Dir: w.Dir, Binary: l.BinaryPath(bin), Environ: append(os.Environ(), l.Env()...)})
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := r.ProvidersSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, targets ...string) {
		t.Helper()
		file := filepath.Join(t.TempDir(), "plan.tfplan")
		if _, err := r.Plan(ctx, tofu.PlanOptions{Out: file, Targets: targets}); err != nil {
			t.Fatalf("%s: plan: %v", name, err)
		}
		want, err := r.ShowChanges(ctx, file)
		if err != nil {
			t.Fatalf("%s: show: %v", name, err)
		}
		got, err := tofu.DecodePlanFile(file, schemas, want.FormatVersion)
		if err != nil {
			t.Fatalf("%s: native decode: %v", name, err)
		}
		if d := tofu.DiffChanges(want, got); d != "" {
			t.Errorf("%s: the native decode differs from show -json: %s", name, d)
		}
		t.Logf("%s: %d drift, %d changes decoded alike", name, len(want.ResourceDrift), len(want.ResourceChanges))
	}
	check("no changes")

	// Live changes: a field the configuration sets, one it ignores, and
	// an object only an import block knows.
	kc := l.Kube().CoreV1()
	for name, body := range map[string]string{"updated": `{"data":{"a":"2"}}`, "drift-only": `{"data":{"k":"live"}}`} {
		if _, err := kc.ConfigMaps(ns).Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "imported", Namespace: ns},
		Data: map[string]string{"i": "0"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	check("drift, v1", "kubernetes_config_map.updated")

	v2 := fmt.Sprintf(planFileV1, ns)
	v2 = replaceOnce(t, v2, `resource "kubernetes_config_map" "deleted" {
  metadata {
    name      = "deleted"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
}
`, "")
	v2 = replaceOnce(t, v2, `"replaced-a"`, `"replaced-b"`)
	v2 = replaceOnce(t, v2, `password = "p1"`, `password = "p2"`)
	v2 = replaceOnce(t, v2, `labels    = { n = tostring(count.index) }`, `labels    = { n = "v2-${count.index}" }`)
	if err := os.WriteFile(filepath.Join(w.Dir, "main.tf"), []byte(v2+fmt.Sprintf(planFileV2Extra, ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.Dir, "m", "main.tf"), []byte(replaceOnce(t, planFileModule, `m = "1"`, `m = "2"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	check("v2, full")
	check("v2, targeted", "kubernetes_config_map.updated", "kubernetes_secret.secret")
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	t.Fatalf("%q not in the configuration", old)
	return s
}
