// Package config is driftgate's one YAML config file. Every service reads its
// own section; secrets are never in the file, only the names of the
// environment variables that hold them (*_env fields).
//
// Load rejects unknown fields and wrong types with the file, line and field
// path of the offending value, then validates references between sections.
package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// File is the whole config file.
type File struct {
	NATS       NATS        `yaml:"nats"`
	Clusters   []Cluster   `yaml:"clusters"`
	Watch      Watch       `yaml:"watch"`
	Workspaces []Workspace `yaml:"workspaces"`
	Planner    Planner     `yaml:"planner"`
	Importer   Importer    `yaml:"importer"`
	Notify     Notify      `yaml:"notify"`
	Console    Console     `yaml:"console"`

	// Path is where the file was read from; relative workspace dirs resolve
	// against its directory.
	Path string `yaml:"-"`
	pos  positions
}

// NATS is how services reach JetStream.
type NATS struct {
	URL             string   `yaml:"url"` // empty: driftgate run embeds a server
	StreamMaxAge    Duration `yaml:"stream_max_age"`
	StreamReplicas  int      `yaml:"stream_replicas"`
	DuplicateWindow Duration `yaml:"duplicate_window"`
	User            string   `yaml:"user"`
	PasswordEnv     string   `yaml:"password_env"`
	TokenEnv        string   `yaml:"token_env"`
	CredsFile       string   `yaml:"creds_file"`
	TLS             TLS      `yaml:"tls"`
}

// TLS for an external NATS server.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Cluster is a Kubernetes cluster the watcher watches.
type Cluster struct {
	Name       string `yaml:"name"`
	Kubeconfig string `yaml:"kubeconfig"` // empty: $KUBECONFIG, then in-cluster
	Context    string `yaml:"context"`
}

// Watch selects what the watcher watches.
type Watch struct {
	// Resources as kubectl names them (deployments.apps, configmaps), or
	// [auto]: every kind in the workspaces' state plus namespaces.
	Resources     []string `yaml:"resources"`
	Namespaces    []string `yaml:"namespaces"` // empty: all
	LabelSelector string   `yaml:"label_selector"`
	// IncludeStatus publishes status-only changes and counts status paths.
	IncludeStatus bool     `yaml:"include_status"`
	Resync        Duration `yaml:"resync"`
	ProbeInterval Duration `yaml:"probe_interval"`
	ProbeFailures int      `yaml:"probe_failures"` // failed probes before "unreachable"
	Workers       int      `yaml:"workers"`
	// LeaderElection on a coordination.k8s.io Lease in LeaseNamespace.
	LeaderElection bool   `yaml:"leader_election"`
	LeaseNamespace string `yaml:"lease_namespace"`
}

// Workspace is a Terraform/OpenTofu root module whose state driftgate keeps
// honest with a cluster.
type Workspace struct {
	Name    string `yaml:"name"`
	Cluster string `yaml:"cluster"`
	Dir     string `yaml:"dir"` // a local checkout; or Source
	// Source is where the configuration comes from instead of Dir (the
	// in-cluster use): a Git repository, fetched into the data dir.
	Source        *Source           `yaml:"source"`
	Binary        string            `yaml:"binary"` // tofu | terraform | a path
	BackendConfig map[string]string `yaml:"backend_config"`
	VarFiles      []string          `yaml:"var_files"`
	Env           map[string]string `yaml:"env"`      // plain values passed to the tool
	EnvFrom       map[string]string `yaml:"env_from"` // VAR: NAME of the driftgate env var holding its (secret) value
	// State locates the state object for the index when the backend config
	// does not say it (bucket/key are read from backend_config otherwise).
	FullPlanInterval Duration     `yaml:"full_plan_interval"`
	HighRiskKinds    []string     `yaml:"high_risk_kinds"`
	Namespaces       []string     `yaml:"namespaces"` // namespaces it could manage: candidates for unimported
	Kinds            []string     `yaml:"kinds"`      // kinds it could manage
	Ignore           []IgnoreRule `yaml:"ignore"`
	Import           ImportPolicy `yaml:"import"`
}

// IgnoreRule marks differences as ignored: in Resource (any when empty), at
// Paths (any when empty), when owned by one of Managers (any when empty).
type IgnoreRule struct {
	Resource string   `yaml:"resource"`
	Paths    []string `yaml:"paths"`
	Managers []string `yaml:"managers"`
}

// Import approval policies.
const (
	ApprovalManual      = "manual"
	ApprovalAuto        = "auto"
	ApprovalAutoLowRisk = "auto-low-risk"
)

// ImportPolicy gates the importer.
type ImportPolicy struct {
	Approval string `yaml:"approval"` // manual (default) | auto | auto-low-risk
}

// Planner tunes the planner.
type Planner struct {
	Debounce     Duration `yaml:"debounce"`
	MaxWait      Duration `yaml:"max_wait"`
	MinFreeBytes int64    `yaml:"min_free_bytes"` // disk guard
	ChurnFlips   int      `yaml:"churn_flips"`
	ChurnWindow  Duration `yaml:"churn_window"`
	PlanTimeout  Duration `yaml:"plan_timeout"`
	// MaxConcurrentPlans bounds the tool runs (init, plan, show) one
	// planner replica runs at once, across all its workspaces; workspaces
	// waiting for a slot are served first come, first served. Default:
	// DefaultMaxConcurrentPlans.
	MaxConcurrentPlans int `yaml:"max_concurrent_plans"`
	// TargetedFullState makes targeted plans read the whole state from the
	// backend, as before the scoped state: by default a targeted plan runs
	// on a local copy of the state cut down to its targets and what they
	// depend on (docs/planner.md).
	TargetedFullState bool `yaml:"targeted_full_state"`
}

// Importer tunes the importer.
type Importer struct {
	LockWait      Duration `yaml:"lock_wait"` // how long to wait for a state lock held by someone else
	ApproverEnv   string   `yaml:"approver_token_env"`
	VerifyTimeout Duration `yaml:"verify_timeout"`
}

// Notify routes events to sinks. No routes: every sink gets the default
// alert types (see docs/notifier.md).
type Notify struct {
	Sinks  []Sink  `yaml:"sinks"`
	Routes []Route `yaml:"routes"`
	// DigestWindow is the longest a drift alert waits for the other findings
	// of the same plan to join it in one digest; the plan's plan.completed
	// closes the digest earlier. Default 10s.
	DigestWindow Duration `yaml:"digest_window"`
	// ReminderInterval, when set, re-announces findings still open this long
	// after their last alert (Slack sinks only).
	ReminderInterval Duration `yaml:"reminder_interval"`
}

// Sink is one destination; exactly one of Slack and Webhook is set.
type Sink struct {
	Name        string       `yaml:"name"`
	Slack       *SlackSink   `yaml:"slack"`
	Webhook     *WebhookSink `yaml:"webhook"`
	RatePerMin  int          `yaml:"rate_per_minute"` // default: 60 for Slack, unlimited for webhooks
	MaxAttempts int          `yaml:"max_attempts"`    // default 30, then alert.failed
	Timeout     Duration     `yaml:"timeout"`         // per attempt; default 10s
	// BackoffMin and BackoffMax bound the exponential backoff (with jitter)
	// between attempts; defaults 1s and 1m.
	BackoffMin Duration `yaml:"backoff_min"`
	BackoffMax Duration `yaml:"backoff_max"`
}

// SlackSink is a Slack incoming webhook; its URL is a secret.
type SlackSink struct {
	WebhookURLEnv string `yaml:"webhook_url_env"`
}

// WebhookSink is a generic HMAC-signed webhook.
type WebhookSink struct {
	URL       string `yaml:"url"`
	SecretEnv string `yaml:"secret_env"`
}

// Route sends matching events to sinks.
type Route struct {
	Match Match    `yaml:"match"`
	Sinks []string `yaml:"sinks"`
}

// Match selects events; empty lists match everything.
type Match struct {
	Types       []string `yaml:"types"` // drift.detected, import.*, cluster.health, *
	Workspaces  []string `yaml:"workspaces"`
	Classes     []string `yaml:"classes"`
	MinRisk     string   `yaml:"min_risk"`     // low | high
	MinSeverity string   `yaml:"min_severity"` // info | warning | critical
}

// Duration is a time.Duration written as "10m", "90s", "2160h".
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as 90s or 10m")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use e.g. 90s, 10m, 2160h)", n.Value)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", n.Value)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d.Duration == 0 {
		return def
	}
	return d.Duration
}
