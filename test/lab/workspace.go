package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// Binary is the tool that runs a workspace.
type Binary string

// The two tools the lab has. Their S3 backend settings differ (see
// BackendConfig).
const (
	Tofu      Binary = "tofu"
	Terraform Binary = "terraform"
)

// BinaryPath returns the path of bin in the tools cache.
func (l *Lab) BinaryPath(bin Binary) string {
	if bin == Terraform {
		return l.Tools.Terraform
	}
	return l.Tools.Tofu
}

// backendSetting is one S3 backend attribute: a string, a bool or a map.
type backendSetting struct {
	name  string
	value any
}

// backendSettings are the S3 backend attributes that point bin at the lab's
// bucket; credentials come from the environment (Env). OpenTofu 1.10 takes
// endpoints.s3, use_path_style and a native lock file; Terraform 1.5.7 takes
// endpoint and force_path_style and has no lock file without DynamoDB.
func (l *Lab) backendSettings(bin Binary, key string) []backendSetting {
	s := []backendSetting{{"bucket", l.S3.Bucket}}
	if key != "" {
		s = append(s, backendSetting{"key", key})
	}
	s = append(s,
		backendSetting{"region", l.S3.Region},
		backendSetting{"skip_credentials_validation", true},
		backendSetting{"skip_region_validation", true},
		backendSetting{"skip_metadata_api_check", true},
	)
	if bin == Terraform {
		return append(s,
			backendSetting{"endpoint", l.S3.Endpoint},
			backendSetting{"force_path_style", true},
		)
	}
	return append(s,
		backendSetting{"endpoints", map[string]string{"s3": l.S3.Endpoint}},
		backendSetting{"use_path_style", true},
		backendSetting{"use_lockfile", true},
		backendSetting{"skip_requesting_account_id", true},
	)
}

// BackendConfig returns the S3 backend settings for bin and state key as
// init's -backend-config=NAME=VALUE pairs (the form of a workspace's
// backend_config in driftgate.yaml). An empty key leaves key out.
func (l *Lab) BackendConfig(bin Binary, key string) map[string]string {
	m := map[string]string{}
	for _, s := range l.backendSettings(bin, key) {
		m[s.name] = hclValue(s.value)
	}
	return m
}

// backendHCL renders the settings as a .tfbackend file.
func (l *Lab) backendHCL(bin Binary, key string) string {
	var b strings.Builder
	for _, s := range l.backendSettings(bin, key) {
		fmt.Fprintf(&b, "%s = %s\n", s.name, hclValue(s.value))
	}
	return b.String()
}

// hclValue writes v as an HCL expression (strings quoted; maps as objects).
func hclValue(v any) string {
	switch v := v.(type) {
	case bool:
		return strconv.FormatBool(v)
	case map[string]string:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + strconv.Quote(v[k])
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	default:
		return strconv.Quote(fmt.Sprint(v))
	}
}

// BackendOverrideFile is the name of the override file PrepareWorkspace
// writes; tofu and terraform merge *_override.tf.json files over the
// configuration, so it replaces the example's empty backend "s3" {} block.
const BackendOverrideFile = "lab_backend_override.tf.json"

// Workspace is a copy of an example configuration whose S3 backend points at
// the lab's bucket, run with one tool.
type Workspace struct {
	Dir    string // the copy
	Binary Binary
	Key    string // the state object's key in the lab's bucket
	// TF runs the tool in Dir with the lab's environment (Env) on top of this
	// program's.
	TF *tfexec.Terraform
}

// NewWorkspace copies the configuration in src to a temporary directory of
// t's, points its backend at the lab's bucket under key and returns it, ready
// for Init. The test fails at once on error.
func (l *Lab) NewWorkspace(t testing.TB, src string, bin Binary, key string) *Workspace {
	t.Helper()
	w, err := l.PrepareWorkspace(src, t.TempDir(), bin, key)
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	return w
}

// PrepareWorkspace copies the configuration in src into dst (created if need
// be), leaving out .terraform directories, lock files and local state, and
// writes BackendOverrideFile with the lab's S3 backend settings for bin and
// key. The tool and the CLI config file must be in the tools cache.
func (l *Lab) PrepareWorkspace(src, dst string, bin Binary, key string) (*Workspace, error) {
	if l.S3.Endpoint == "" {
		return nil, fmt.Errorf("workspace %s: the lab runs without S3", src)
	}
	if err := l.Tools.Check(l.BinaryPath(bin), l.Tools.CLIConfigFile); err != nil {
		return nil, err
	}
	if err := copyConfig(src, dst); err != nil {
		return nil, fmt.Errorf("workspace %s: %w", src, err)
	}
	settings := map[string]any{}
	for _, s := range l.backendSettings(bin, key) {
		settings[s.name] = s.value
	}
	override, err := json.MarshalIndent(map[string]any{
		"terraform": map[string]any{"backend": map[string]any{"s3": settings}},
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("workspace %s: backend override: %w", src, err)
	}
	if err := os.WriteFile(filepath.Join(dst, BackendOverrideFile), override, 0o644); err != nil {
		return nil, fmt.Errorf("workspace %s: backend override: %w", src, err)
	}
	tf, err := tfexec.NewTerraform(dst, l.BinaryPath(bin))
	if err != nil {
		return nil, fmt.Errorf("workspace %s: %w", src, err)
	}
	if err := tf.SetEnv(l.envMap()); err != nil {
		return nil, fmt.Errorf("workspace %s: %w", src, err)
	}
	return &Workspace{Dir: dst, Binary: bin, Key: key, TF: tf}, nil
}

// envMap is this program's environment with the lab's on top, without the
// variables terraform-exec manages itself.
func (l *Lab) envMap() map[string]string {
	m := map[string]string{}
	for _, kv := range append(os.Environ(), l.Env()...) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return tfexec.CleanEnv(m)
}

// Init runs init (backend and providers from the mirror).
func (w *Workspace) Init(ctx context.Context, opts ...tfexec.InitOption) error {
	if err := w.TF.Init(ctx, opts...); err != nil {
		return fmt.Errorf("%s init in %s: %w", w.Binary, w.Dir, err)
	}
	return nil
}

// Apply runs apply -auto-approve.
func (w *Workspace) Apply(ctx context.Context, opts ...tfexec.ApplyOption) error {
	if err := w.TF.Apply(ctx, opts...); err != nil {
		return fmt.Errorf("%s apply in %s: %w", w.Binary, w.Dir, err)
	}
	return nil
}

// Plan runs plan -detailed-exitcode and reports whether it has changes.
func (w *Workspace) Plan(ctx context.Context, opts ...tfexec.PlanOption) (changes bool, err error) {
	changes, err = w.TF.Plan(ctx, opts...)
	if err != nil {
		return false, fmt.Errorf("%s plan in %s: %w", w.Binary, w.Dir, err)
	}
	return changes, nil
}

// PlanJSON runs plan into a plan file and returns it as JSON (show -json).
func (w *Workspace) PlanJSON(ctx context.Context, opts ...tfexec.PlanOption) (*tfjson.Plan, error) {
	out := filepath.Join(w.Dir, "lab.tfplan")
	if _, err := w.TF.Plan(ctx, append(opts, tfexec.Out(out))...); err != nil {
		return nil, fmt.Errorf("%s plan in %s: %w", w.Binary, w.Dir, err)
	}
	p, err := w.TF.ShowPlanFile(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("%s show in %s: %w", w.Binary, w.Dir, err)
	}
	return p, nil
}

// PushNextSerial writes the workspace's state back unchanged at a higher
// serial with `state push`, under the state lock as a user's push would
// (terraform-exec passes -lock=false unless told), and returns the serial
// the backend then has (the tool may count the write once more).
func (w *Workspace) PushNextSerial(ctx context.Context) (int64, error) {
	m, body, err := w.pullState(ctx)
	if err != nil {
		return 0, err
	}
	next, err := tofu.AtSerial([]byte(body), m.Serial+1)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp("", "lab-push-*.tfstate")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(next); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := w.TF.StatePush(ctx, f.Name(), tfexec.Lock(true)); err != nil {
		return 0, fmt.Errorf("%s state push in %s: %w", w.Binary, w.Dir, err)
	}
	m, _, err = w.pullState(ctx)
	if err != nil {
		return 0, err
	}
	return m.Serial, nil
}

func (w *Workspace) pullState(ctx context.Context) (tofu.Meta, string, error) {
	body, err := w.TF.StatePull(ctx)
	if err != nil {
		return tofu.Meta{}, "", fmt.Errorf("%s state pull in %s: %w", w.Binary, w.Dir, err)
	}
	m, err := tofu.ParseMeta([]byte(body))
	return m, body, err
}

// StateVersions returns the versions of the state object key in the lab's
// bucket, newest first, without delete markers and without the versions of
// other keys that merely share its prefix (such as key.tflock).
func (l *Lab) StateVersions(ctx context.Context, key string) ([]types.ObjectVersion, error) {
	c := l.S3.Client()
	var out []types.ObjectVersion
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{
		Bucket: aws.String(l.S3.Bucket), Prefix: aws.String(key),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", key, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == key {
				out = append(out, v)
			}
		}
	}
	return out, nil // S3 lists a key's versions newest first
}

// copyConfig copies a configuration directory, leaving out what init, plan
// and apply write there.
func copyConfig(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == ".terraform" && path != src {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if name == ".terraform.lock.hcl" || strings.Contains(name, ".tfstate") || strings.HasSuffix(name, ".tfplan") ||
			!d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ConfigMapModule is the configuration of a workspace of one namespace and
// configMaps ConfigMaps in it (kubernetes_config_map.cm[0..], each with
// data.index), S3 state, hashicorp/kubernetes 1.13.4: the workspace the
// benchmarks grow to a size.
func ConfigMapModule(namespace string, configMaps int) string {
	return fmt.Sprintf(`terraform {
  required_providers {
    kubernetes = { source = "hashicorp/kubernetes", version = "1.13.4" }
  }
  backend "s3" {}
}
provider "kubernetes" {}
resource "kubernetes_namespace" "ns" {
  metadata { name = %q }
}
resource "kubernetes_config_map" "cm" {
  count = %d
  metadata {
    name      = "cm-${count.index}"
    namespace = kubernetes_namespace.ns.metadata[0].name
  }
  data = { index = tostring(count.index) }
}
`, namespace, configMaps)
}
