package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/driftgate/driftgate/pkg/config"
)

// No container engine runs here, so the deployment files are checked for
// what can be checked without one: they parse, every file they name exists,
// every binary their images build has a main package, and the driftgate
// configs they ship load.

const root = "../.."

func TestComposeFile(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build *struct {
				Context    string            `yaml:"context"`
				Dockerfile string            `yaml:"dockerfile"`
				Target     string            `yaml:"target"`
				Args       map[string]string `yaml:"args"`
			} `yaml:"build"`
			Image string `yaml:"image"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	built := 0
	for name, s := range compose.Services {
		if s.Build == nil {
			if s.Image == "" {
				t.Errorf("service %s has neither build nor image", name)
			}
			continue
		}
		built++
		checkDockerfile(t, filepath.Join(root, s.Build.Context, s.Build.Dockerfile), s.Build.Target, s.Build.Args)
		if s.Build.Args["SERVICE"] != name {
			t.Errorf("service %s builds with SERVICE=%q", name, s.Build.Args["SERVICE"])
		}
	}
	if built != 5 {
		t.Errorf("compose builds %d driftgate services, want 5", built)
	}
	if _, err := parseDeployConfig(filepath.Join(root, "deploy/compose/driftgate.yaml")); err != nil {
		t.Error(err)
	}
}

var goBuildRE = regexp.MustCompile(`cd (services/[a-z]+) && .*go build .* (\./cmd/[a-z-]+)`)

// checkDockerfile checks the Dockerfile as built with the build args and
// target: the target stage exists, and so on.
func checkDockerfile(t *testing.T, path, target string, args map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return
	}
	text := string(raw)
	for k, v := range args {
		text = strings.ReplaceAll(strings.ReplaceAll(text, "${"+k+"}", v), "$"+k, v)
	}
	if target != "" && !regexp.MustCompile(`(?m)^FROM .* AS `+regexp.QuoteMeta(target)+`$`).MatchString(text) {
		t.Errorf("%s: no stage %s", path, target)
	}
	b := []byte(text)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--from") {
			for _, src := range f[1 : len(f)-1] {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("%s: COPY source %s: %v", path, src, err)
				}
			}
		}
	}
	m := goBuildRE.FindStringSubmatch(string(b))
	if m == nil {
		t.Errorf("%s: no `cd services/X && go build ./cmd/...` line", path)
		return
	}
	mains, _ := filepath.Glob(filepath.Join(root, m[1], m[2], "*.go"))
	if len(mains) == 0 {
		t.Errorf("%s builds %s/%s, which has no Go files", path, m[1], m[2])
	}
}

func TestKustomizeBase(t *testing.T) {
	dir := filepath.Join(root, "deploy/k8s")
	var k struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
		SecretGenerator []struct {
			Envs []string `yaml:"envs"`
		} `yaml:"secretGenerator"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		if st, err := os.Stat(p); err != nil {
			t.Errorf("resource %s: %v", r, err)
			continue
		} else if st.IsDir() {
			p = filepath.Join(p, "kustomization.yaml")
			if _, err := os.Stat(p); err != nil {
				t.Errorf("resource dir %s has no kustomization.yaml", r)
			}
			continue
		}
		for _, o := range objects(t, p) {
			kinds[o.Kind]++
		}
	}
	for _, g := range k.ConfigMapGenerator {
		for _, f := range g.Files {
			if _, err := parseDeployConfig(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	for _, g := range k.SecretGenerator {
		for _, f := range g.Envs {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	if kinds["Deployment"] < 3 || kinds["StatefulSet"] != 1 || kinds["ServiceAccount"] < 3 {
		t.Errorf("objects by kind: %v", kinds)
	}
}

type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

func objects(t *testing.T, path string) []object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
			t.Errorf("%s: object without apiVersion, kind or name: %+v", path, o)
		}
		out = append(out, o)
	}
}

// parseDeployConfig validates a config shipped for a container: its
// workspace dirs are paths inside the image, so it is parsed, not loaded.
func parseDeployConfig(path string) (*config.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return config.Parse(path, b)
}

// TestDeployReadsWorkspacesFromGit: the shipped deployments bake no
// workspace into an image and mount none: every workspace of their configs
// comes from Git, and the planner and importer keep the provider plugin
// cache on a volume.
func TestDeployReadsWorkspacesFromGit(t *testing.T) {
	for _, p := range []string{"deploy/compose/driftgate.yaml", "deploy/k8s/driftgate.yaml"} {
		cfg, err := parseDeployConfig(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Workspaces) == 0 {
			t.Errorf("%s: no workspace", p)
		}
		for _, w := range cfg.Workspaces {
			if w.Dir != "" || w.Git() == nil {
				t.Errorf("%s: workspace %s is not read from Git (dir %q)", p, w.Name, w.Dir)
			}
		}
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(compose), "./examples") {
		t.Error("docker-compose.yml mounts workspaces from ./examples")
	}
	for _, f := range []string{"docker-compose.yml", "deploy/k8s/planner.yaml", "deploy/k8s/importer.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "TF_PLUGIN_CACHE_DIR") || !strings.Contains(string(b), "/var/cache/driftgate/plugins") {
			t.Errorf("%s: no plugin cache on a volume", f)
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(df), "examples") {
		t.Error("the Dockerfile copies a workspace into an image")
	}
}
