// Package health turns what the watcher sees of a cluster into
// cluster.health events: the API server becoming unreachable and recovering,
// node conditions changing, the watcher's own informers syncing.
package health

import (
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// Conditions of cluster.health events the watcher publishes.
const (
	CondUnreachable = "Unreachable"          // component apiserver
	CondSynced      = events.ConditionSynced // component watcher
)

// APIServer is the reachability state machine of one cluster's API server,
// fed with one probe result at a time. It declares an outage after
// Failures consecutive failed probes and a recovery at the first success
// after that; the outage starts at the first failed probe.
type APIServer struct {
	Cluster  string
	Failures int

	failing   int
	firstFail time.Time
	lastErr   string
	down      bool
}

// Down reports whether an outage is declared.
func (a *APIServer) Down() bool { return a.down }

// Observe records one probe result. It returns the event to publish on a
// transition, else nil. mayReport gates declaring an outage (only the
// leader does); a declared outage is always followed by its recovery.
func (a *APIServer) Observe(err error, now time.Time, mayReport bool) *events.ClusterHealth {
	if err == nil {
		wasDown, since := a.down, a.firstFail
		a.failing, a.down, a.firstFail, a.lastErr = 0, false, time.Time{}, ""
		if !wasDown {
			return nil
		}
		return &events.ClusterHealth{
			Cluster: a.Cluster, Component: events.ComponentAPIServer, Condition: CondUnreachable,
			Status: "False", Severity: events.SeverityInfo, Reason: "Recovered",
			Since: since, Duration: now.Sub(since).Round(time.Millisecond).String(),
			Message:    "API server reachable again after " + now.Sub(since).Round(time.Second).String(),
			ObservedAt: now,
		}
	}
	if a.failing == 0 {
		a.firstFail = now
	}
	a.failing++
	a.lastErr = ProbeMessage(err)
	if a.down || a.failing < max(a.Failures, 1) || !mayReport {
		return nil
	}
	a.down = true
	return &events.ClusterHealth{
		Cluster: a.Cluster, Component: events.ComponentAPIServer, Condition: CondUnreachable,
		Status: "True", Severity: events.SeverityCritical, Reason: "ProbeFailed",
		Since:      a.firstFail,
		Message:    a.lastErr,
		ObservedAt: now,
	}
}

// ProbeMessage shortens a probe error for an event: a /readyz failure names
// only its failing checks ("[-]etcd failed: ..."), anything else is cut to
// 300 bytes.
func ProbeMessage(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "readyz check failed") {
		var failed []string
		for _, l := range strings.Split(strings.ReplaceAll(msg, `\n`, "\n"), "\n") {
			if i := strings.Index(l, "[-]"); i >= 0 {
				failed = append(failed, strings.TrimSpace(l[i+3:]))
			}
		}
		if len(failed) > 0 {
			msg = "readyz failing: " + strings.Join(failed, "; ")
		}
	}
	if len(msg) > 300 {
		msg = msg[:297] + "..."
	}
	return msg
}
