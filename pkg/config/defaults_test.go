package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDefaultsAppliedOnceAtLoad(t *testing.T) {
	f, err := Parse("d.yaml", []byte(`
workspaces: [{name: w, dir: .}]
planner: {debounce: 1s}
notify:
  sinks:
    - {name: s, slack: {webhook_url_env: S}}
    - {name: h, webhook: {url: "https://h.example", secret_env: H}, max_attempts: 3, backoff_min: 2m}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"watch.workers", f.Watch.Workers, DefaultWorkers},
		{"watch.probe_interval", f.Watch.ProbeInterval.Duration, DefaultProbeInterval},
		{"watch.probe_failures", f.Watch.ProbeFailures, DefaultProbeFailures},
		{"workspaces[0].full_plan_interval", f.Workspaces[0].FullPlanInterval.Duration, DefaultFullPlanInterval},
		{"planner.debounce (set)", f.Planner.Debounce.Duration, time.Second},
		{"planner.max_wait", f.Planner.MaxWait.Duration, DefaultMaxWait},
		{"planner.churn_flips", f.Planner.ChurnFlips, DefaultChurnFlips},
		{"planner.churn_window", f.Planner.ChurnWindow.Duration, DefaultChurnWindow},
		{"planner.plan_timeout", f.Planner.PlanTimeout.Duration, DefaultPlanTimeout},
		{"planner.max_concurrent_plans", f.Planner.MaxConcurrentPlans, DefaultMaxConcurrentPlans()},
		{"importer.lock_wait", f.Importer.LockWait.Duration, DefaultLockWait},
		{"importer.verify_timeout", f.Importer.VerifyTimeout.Duration, DefaultVerifyTimeout},
		{"importer.approver_token_env", f.Importer.ApproverEnv, DefaultApproverEnv},
		{"notify.digest_window", f.Notify.DigestWindow.Duration, DefaultDigestWindow},
		{"slack max_attempts", f.Notify.Sinks[0].MaxAttempts, DefaultMaxAttempts},
		{"slack rate_per_minute", f.Notify.Sinks[0].RatePerMin, DefaultSlackPerMin},
		{"slack timeout", f.Notify.Sinks[0].Timeout.Duration, DefaultSinkTimeout},
		{"slack backoff", [2]time.Duration{f.Notify.Sinks[0].BackoffMin.Duration, f.Notify.Sinks[0].BackoffMax.Duration}, [2]time.Duration{DefaultBackoffMin, DefaultBackoffMax}},
		{"webhook max_attempts (set)", f.Notify.Sinks[1].MaxAttempts, 3},
		{"webhook rate_per_minute: unlimited", f.Notify.Sinks[1].RatePerMin, 0},
		{"webhook backoff_max follows a backoff_min above the default", f.Notify.Sinks[1].BackoffMax.Duration, 2 * time.Minute},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	before := *f
	f.ApplyDefaults()
	if !reflect.DeepEqual(before.Planner, f.Planner) || !reflect.DeepEqual(before.Notify, f.Notify) {
		t.Error("ApplyDefaults is not idempotent")
	}
}
