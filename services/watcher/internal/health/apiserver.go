// Package health turns what the watcher sees of a cluster into
// cluster.health events: the API server becoming unreachable and recovering,
// node conditions changing, the watcher's own informers syncing.
package health

import (
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// Conditions of cluster.health events the watcher publishes.
const (
	CondUnreachable = "Unreachable" // component apiserver
	CondSynced      = "Synced"      // component watcher
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
	a.lastErr = err.Error()
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
