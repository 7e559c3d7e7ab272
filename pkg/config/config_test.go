package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
)

const good = `
nats:
  url: ""
  stream_max_age: 2160h
clusters:
  - name: lab
    kubeconfig: ""
watch:
  resources: [deployments.apps, services, configmaps, secrets, namespaces, serviceaccounts,
              roles.rbac.authorization.k8s.io, rolebindings.rbac.authorization.k8s.io]
  namespaces: []
workspaces:
  - name: marketplace
    cluster: lab
    dir: examples/marketplace
    binary: tofu
    backend_config: {bucket: tfstate, key: marketplace/terraform.tfstate}
    full_plan_interval: 10m
    high_risk_kinds: [statefulsets.apps, persistentvolumeclaims, clusters.postgresql.cnpg.io]
    ignore:
      - {resource: deployments.apps, paths: [spec.replicas], managers: [horizontal-pod-autoscaler]}
      - {managers: [argocd-controller]}
    import: {approval: manual}
notify:
  sinks:
    - {name: ops-slack, slack: {webhook_url_env: SLACK_WEBHOOK_URL}}
    - {name: audit-hook, webhook: {url: "http://127.0.0.1:8099/hook", secret_env: DRIFTGATE_WEBHOOK_SECRET}}
  routes:
    - {match: {types: [drift.detected, drift.resolved, import.*, cluster.health]}, sinks: [ops-slack, audit-hook]}
`

func TestDesignExampleLoads(t *testing.T) {
	f, err := config.Parse("driftgate.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if f.NATS.StreamMaxAge.Duration != 2160*time.Hour || f.Workspaces[0].FullPlanInterval.Duration != 10*time.Minute {
		t.Errorf("durations: %v %v", f.NATS.StreamMaxAge, f.Workspaces[0].FullPlanInterval)
	}
	if len(f.Watch.Resources) != 8 || f.Workspaces[0].BackendConfig["bucket"] != "tfstate" || len(f.Notify.Routes[0].Sinks) != 2 {
		t.Errorf("decoded %+v", f)
	}
}

func TestBadConfigIsOneLineNamingFieldAndLine(t *testing.T) {
	cases := []struct {
		name, edit, with, want string
	}{
		{"unknown field", "    binary: tofu", "    binray: tofu", "driftgate.yaml:16:5: workspaces[0].binray: unknown field"},
		{"secret inline", "{webhook_url_env: SLACK_WEBHOOK_URL}", "{webhook_url: https://hooks.slack.com/x}",
			"driftgate.yaml:26:33: notify.sinks[0].slack.webhook_url: unknown field (secrets come from the environment: use webhook_url_env)"},
		{"bad duration", "full_plan_interval: 10m", "full_plan_interval: 10x", `driftgate.yaml:18:25: workspaces[0].full_plan_interval: "10x" is not a duration`},
		{"list for string", "    binary: tofu", "    binary: [tofu]", "driftgate.yaml:16:13: workspaces[0].binary: expected a string, got a list"},
		{"string for list", "  namespaces: []", "  namespaces: shop", `driftgate.yaml:11:15: watch.namespaces: expected a list, got "shop"`},
		{"unknown cluster", "    cluster: lab", "    cluster: prod", `driftgate.yaml:14:14: workspaces[0].cluster: cluster "prod" is not defined under clusters`},
		{"bad approval", "{approval: manual}", "{approval: yolo}", `workspaces[0].import.approval: "yolo" is not manual, auto or auto-low-risk`},
		{"undefined sink", "sinks: [ops-slack, audit-hook]", "sinks: [ops-slack, pager]", `notify.routes[0].sinks[1]: sink "pager" is not defined under notify.sinks`},
		{"bad nats url", `  url: ""`, `  url: "http://x"`, `nats.url: "http://x" is not a NATS URL`},
		{"bad webhook url", `url: "http://127.0.0.1:8099/hook"`, `url: "ftp:/x"`, `notify.sinks[1].webhook.url: "ftp:/x" is not an http(s) URL`},
		{"bad type", "types: [drift.detected,", "types: [Drift Detected,", `notify.routes[0].match.types[0]: "Drift Detected" is not an event type`},
		{"duplicate workspace", "notify:\n", "  - {name: marketplace, dir: x}\nnotify:\n", `workspaces[1].name: workspace "marketplace" is defined twice`},
		{"bad resource", "services, configmaps", "services, Config Maps", `watch.resources[2]: "Config Maps" is not a resource as kubectl names it`},
		{"int for bool", "  namespaces: []", "  namespaces: []\n  include_status: 3", `watch.include_status: expected true or false, got "3"`},
		{"yaml syntax", "  namespaces: []", "  namespaces: [", "driftgate.yaml:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(good, c.edit, c.with, 1)
			if src == good {
				t.Fatalf("edit %q not applied", c.edit)
			}
			_, err := config.Parse("driftgate.yaml", []byte(src))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q\n  does not contain %q", msg, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
		})
	}
}

func TestBackendArgs(t *testing.T) {
	m := map[string]string{
		"key": `"shop/terraform.tfstate"`, "bucket": "tfstate", "use_path_style": " true ",
		"endpoints": `{ s3 = "http://127.0.0.1:9000" }`, "odd": `"unterminated`,
	}
	want := []string{"bucket=tfstate", `endpoints={ s3 = "http://127.0.0.1:9000" }`, "key=shop/terraform.tfstate",
		`odd="unterminated`, "use_path_style=true"}
	if got := config.BackendArgs(m); !slices.Equal(got, want) {
		t.Fatalf("BackendArgs() = %q, want %q", got, want)
	}
}

// TestLoadChecksWorkspaceDirs: Load (a file on this machine) refuses a
// workspace dir that does not exist or is a file, with the field's line;
// relative dirs are read from the config file's directory.
func TestLoadChecksWorkspaceDirs(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "ws"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ wsDir, want string }{
		{"ws", ""},
		{filepath.Join(dir, "ws"), ""},
		{"missing", `:3:10: workspaces[0].dir: "missing" does not exist`},
		{"file", `:3:10: workspaces[0].dir: "file" is not a directory`},
	} {
		p := filepath.Join(dir, "driftgate.yaml")
		if err := os.WriteFile(p, []byte("workspaces:\n  - name: a\n    dir: "+c.wsDir+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := config.Load(p)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("dir %q: %v", c.wsDir, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("dir %q: error %v, want %q", c.wsDir, err, c.want)
		}
	}
}

func TestYAMLErrorsKeepTheirLines(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"nats:\n  url: \"\"\nnats:\n  stream_max_age: 1h\n", `driftgate.yaml:3: mapping key "nats" already defined at line 1`},
		{"watch:\n  workers: -3\n", "driftgate.yaml:2:12: watch.workers: -3: must not be negative"},
		{"planner:\n  max_concurrent_plans: -1\n", "driftgate.yaml:2:25: planner.max_concurrent_plans: -1: must not be negative"},
		{"planner:\n  max_concurrent_plans: two\n", "driftgate.yaml:2:25: planner.max_concurrent_plans: expected an integer"},
	} {
		_, err := config.Parse("driftgate.yaml", []byte(c.src))
		if err == nil || err.Error() != c.want && !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.src, err, c.want)
		}
	}
}
