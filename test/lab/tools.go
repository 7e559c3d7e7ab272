package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Pinned versions; they must match hack/tools.sh (TestToolVersionsMatchToolsScript).
const (
	EtcdVersion               = "3.6.16"
	KubeVersion               = "1.34.2"
	TofuVersion               = "1.10.10"
	TerraformVersion          = "1.5.7"
	MinIOVersion              = "v0.0.0-20260212201848-7aac2a2c5b7c"
	NATSVersion               = "2.12.1"
	NATSCLIVersion            = "0.5.0"
	ProviderKubernetesVersion = "1.13.4"
	ProviderKubectlVersion    = "1.19.0"
	ProviderLocalVersion      = "1.4.0" // hashicorp/local: local_file beside Kubernetes resources
	ProviderHelmVersion       = "1.3.2"
)

// ToolsDirEnv overrides the tools cache root.
const ToolsDirEnv = "DRIFTGATE_TOOLS_DIR"

// Tools are the paths of the lab's binaries in the tools cache. The paths are
// where make tools puts them; Check says whether they are there.
type Tools struct {
	Dir                   string // cache root
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	MinIO                 string
	NATSServer            string
	// NATSCLI is the stock `nats` CLI (natscli), the foreign client of the
	// security tests.
	NATSCLI   string
	Tofu      string
	Terraform string
	// CLIConfigFile is the tofu/terraform CLI config (TF_CLI_CONFIG_FILE)
	// that installs the providers from the filesystem mirror only.
	CLIConfigFile string
}

// ToolsDir is the tools cache root: $DRIFTGATE_TOOLS_DIR, else
// ${XDG_CACHE_HOME:-~/.cache}/driftgate/tools, as in hack/tools.sh.
func ToolsDir() (string, error) {
	if d := os.Getenv(ToolsDirEnv); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "driftgate", "tools"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("lab: tools dir: set %s: %w", ToolsDirEnv, err)
	}
	return filepath.Join(home, ".cache", "driftgate", "tools"), nil
}

// FindTools returns the tool paths under the cache root ToolsDir names.
func FindTools() (Tools, error) {
	dir, err := ToolsDir()
	if err != nil {
		return Tools{}, err
	}
	return ToolsIn(dir), nil
}

// ToolsIn returns the tool paths under the cache root dir.
func ToolsIn(dir string) Tools {
	bin := func(component, version, name string) string {
		return filepath.Join(dir, component+"-"+version, "bin", name)
	}
	return Tools{
		Dir:                   dir,
		Etcd:                  bin("etcd", EtcdVersion, "etcd"),
		KubeAPIServer:         bin("kube", KubeVersion, "kube-apiserver"),
		KubeControllerManager: bin("kube", KubeVersion, "kube-controller-manager"),
		MinIO:                 bin("minio", MinIOVersion, "minio"),
		NATSServer:            bin("nats-server", NATSVersion, "nats-server"),
		NATSCLI:               bin("natscli", NATSCLIVersion, "nats"),
		Tofu:                  bin("tofu", TofuVersion, "tofu"),
		Terraform:             bin("terraform", TerraformVersion, "terraform"),
		CLIConfigFile: filepath.Join(dir,
			"mirror-k"+ProviderKubernetesVersion+"-c"+ProviderKubectlVersion+"-h"+ProviderHelmVersion+"-l"+ProviderLocalVersion, "cli.tfrc"),
	}
}

// ErrToolsMissing is wrapped by Check's error.
var ErrToolsMissing = errors.New("lab tools missing")

// Check returns an error wrapping ErrToolsMissing that names every path in
// paths that is not an existing file, and says to run make tools.
func (t Tools) Check(paths ...string) error {
	var missing []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s not found (tools cache %s): run `make tools` first (hack/tools.sh; the first run builds for ~30 min)",
		ErrToolsMissing, strings.Join(missing, ", "), t.Dir)
}
