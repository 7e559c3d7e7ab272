package config

import (
	"runtime"
	"time"
)

// Defaults of the fields left empty in the file. Parse applies them once,
// so the services and the CLI read every field as it is meant, with no
// default of their own.
const (
	DefaultProbeInterval = 5 * time.Second // watch.probe_interval
	DefaultProbeFailures = 3               // watch.probe_failures
	DefaultWorkers       = 8               // watch.workers

	DefaultFullPlanInterval = 10 * time.Minute // workspaces[].full_plan_interval

	DefaultDebounce    = 150 * time.Millisecond // planner.debounce
	DefaultMaxWait     = 10 * time.Second       // planner.max_wait
	DefaultChurnFlips  = 4                      // planner.churn_flips
	DefaultChurnWindow = 10 * time.Minute       // planner.churn_window
	DefaultPlanTimeout = 10 * time.Minute       // planner.plan_timeout

	DefaultLockWait      = 5 * time.Minute            // importer.lock_wait
	DefaultVerifyTimeout = 10 * time.Minute           // importer.verify_timeout: each tool run of an import
	DefaultApproverEnv   = "DRIFTGATE_APPROVER_TOKEN" // importer.approver_token_env

	DefaultDigestWindow = 10 * time.Second // notify.digest_window
	DefaultMaxAttempts  = 30               // notify.sinks[].max_attempts
	DefaultSinkTimeout  = 10 * time.Second // notify.sinks[].timeout
	DefaultBackoffMin   = time.Second      // notify.sinks[].backoff_min
	DefaultBackoffMax   = time.Minute      // notify.sinks[].backoff_max
	DefaultSlackPerMin  = 60               // notify.sinks[].rate_per_minute of a Slack sink (a webhook's: unlimited)
)

// DefaultMaxConcurrentPlans is planner.max_concurrent_plans when the file
// leaves it out: the CPUs this process may use (GOMAXPROCS, which follows
// a container's CPU limit), at least 1. A tool run of a small workspace is
// CPU-bound (process start, provider start, schema load, the plan itself):
// beyond one run per CPU the runs only take turns on the same cores while
// each holds its memory (docs/performance.md, "A fleet on one replica").
func DefaultMaxConcurrentPlans() int { return max(1, runtime.GOMAXPROCS(0)) }

// ApplyDefaults fills every field left empty with its default. Parse (and
// so Load) calls it; a File built in code calls it once before it is used.
// It is idempotent.
func (f *File) ApplyDefaults() {
	dur := func(d *Duration, def time.Duration) {
		if d.Duration == 0 {
			d.Duration = def
		}
	}
	num := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	w := &f.Watch
	dur(&w.ProbeInterval, DefaultProbeInterval)
	num(&w.ProbeFailures, DefaultProbeFailures)
	num(&w.Workers, DefaultWorkers)
	for i := range f.Workspaces {
		dur(&f.Workspaces[i].FullPlanInterval, DefaultFullPlanInterval)
		if g := f.Workspaces[i].Git(); g != nil {
			dur(&g.Interval, DefaultSourceInterval)
		}
	}
	p := &f.Planner
	dur(&p.Debounce, DefaultDebounce)
	dur(&p.MaxWait, DefaultMaxWait)
	num(&p.ChurnFlips, DefaultChurnFlips)
	dur(&p.ChurnWindow, DefaultChurnWindow)
	dur(&p.PlanTimeout, DefaultPlanTimeout)
	num(&p.MaxConcurrentPlans, DefaultMaxConcurrentPlans())
	im := &f.Importer
	dur(&im.LockWait, DefaultLockWait)
	dur(&im.VerifyTimeout, DefaultVerifyTimeout)
	if im.ApproverEnv == "" {
		im.ApproverEnv = DefaultApproverEnv
	}
	f.Console.applyDefaults()
	n := &f.Notify
	dur(&n.DigestWindow, DefaultDigestWindow)
	for i := range n.Sinks {
		s := &n.Sinks[i]
		num(&s.MaxAttempts, DefaultMaxAttempts)
		dur(&s.Timeout, DefaultSinkTimeout)
		dur(&s.BackoffMin, DefaultBackoffMin)
		dur(&s.BackoffMax, DefaultBackoffMax)
		if s.BackoffMax.Duration < s.BackoffMin.Duration {
			s.BackoffMax = s.BackoffMin // only backoff_min set, above the default max
		}
		if s.Slack != nil && s.RatePerMin == 0 {
			s.RatePerMin = DefaultSlackPerMin
		}
	}
}
