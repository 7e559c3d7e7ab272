package health

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/driftgate/driftgate/pkg/events"
)

// NodeState is the last reported status of each watched condition of a
// node, kept in the state bucket so a restart does not repeat reports.
type NodeState map[string]CondState

// CondState is a condition's status and when it last changed.
type CondState struct {
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
}

// watched maps each node condition the watcher reports to the status that
// is bad and the severity of being bad.
var watched = map[corev1.NodeConditionType]struct {
	bad      corev1.ConditionStatus
	severity string
}{
	corev1.NodeReady:              {corev1.ConditionFalse, events.SeverityCritical}, // Unknown is bad too
	corev1.NodeDiskPressure:       {corev1.ConditionTrue, events.SeverityCritical},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue, events.SeverityWarning},
	corev1.NodePIDPressure:        {corev1.ConditionTrue, events.SeverityWarning},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue, events.SeverityWarning},
}

func isBad(t corev1.NodeConditionType, s corev1.ConditionStatus) bool {
	w := watched[t]
	if t == corev1.NodeReady {
		return s != corev1.ConditionTrue
	}
	return s == w.bad
}

// NodeTransitions compares a node's conditions with what was last reported
// (prev nil: never seen) and returns the events to publish and the new
// state. A node seen for the first time reports only conditions that are
// bad; later, every change of a watched condition is reported, a return to
// good with how long it was bad.
func NodeTransitions(cluster string, prev NodeState, n *corev1.Node, now time.Time) ([]*events.ClusterHealth, NodeState) {
	next := NodeState{}
	var out []*events.ClusterHealth
	for _, c := range n.Status.Conditions {
		w, ok := watched[c.Type]
		if !ok {
			continue
		}
		since := c.LastTransitionTime.Time.UTC()
		if since.IsZero() {
			since = now.UTC()
		}
		cur := CondState{Status: string(c.Status), Since: since}
		next[string(c.Type)] = cur
		old, seen := prev[string(c.Type)]
		bad := isBad(c.Type, c.Status)
		switch {
		case prev == nil || !seen:
			if !bad {
				continue
			}
		case old.Status == cur.Status && old.Since.Equal(cur.Since):
			continue
		}
		e := &events.ClusterHealth{
			Cluster: cluster, Component: events.ComponentNode, Node: n.Name,
			Condition: string(c.Type), Status: string(c.Status),
			Severity: events.SeverityInfo, Reason: c.Reason, Message: c.Message,
			Since: since, ObservedAt: now,
		}
		if bad {
			e.Severity = w.severity
		} else if seen && isBad(c.Type, corev1.ConditionStatus(old.Status)) {
			e.Duration = since.Sub(old.Since).Round(time.Second).String()
		}
		if e.Status != "True" && e.Status != "False" {
			e.Status = "Unknown"
		}
		out = append(out, e)
	}
	return out, next
}
