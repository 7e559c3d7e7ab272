package health

import (
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
)

func TestAPIServerOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &APIServer{Cluster: "lab", Failures: 3}
	down := errors.New("connect: connection refused")
	steps := []struct {
		err       error
		at        time.Duration
		mayReport bool
		want      string // "" no event, else Status
	}{
		{nil, 0, true, ""},
		{down, 5 * time.Second, true, ""},
		{down, 10 * time.Second, true, ""},
		{down, 15 * time.Second, true, "True"},
		{down, 20 * time.Second, true, ""},
		{nil, 25 * time.Second, true, "False"},
		{nil, 30 * time.Second, true, ""},
		// A non-leader counts failures but does not declare the outage.
		{down, 35 * time.Second, false, ""},
		{down, 40 * time.Second, false, ""},
		{down, 45 * time.Second, false, ""},
		{nil, 50 * time.Second, false, ""},
	}
	for i, s := range steps {
		e := a.Observe(s.err, t0.Add(s.at), s.mayReport)
		switch {
		case s.want == "" && e != nil:
			t.Fatalf("step %d: unexpected event %+v", i, e)
		case s.want != "" && e == nil:
			t.Fatalf("step %d: no event, want status %s", i, s.want)
		case e == nil:
			continue
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("step %d: invalid event: %v", i, err)
		}
		if e.Status != s.want || e.Condition != CondUnreachable || e.Component != events.ComponentAPIServer {
			t.Fatalf("step %d: event %+v", i, e)
		}
		if !e.Since.Equal(t0.Add(5 * time.Second)) {
			t.Fatalf("step %d: since %s, want the first failure", i, e.Since)
		}
		if s.want == "True" && (e.Severity != events.SeverityCritical || e.Message != down.Error()) {
			t.Fatalf("outage event %+v", e)
		}
		if s.want == "False" && (e.Duration != "20s" || e.Severity != events.SeverityInfo) {
			t.Fatalf("recovery event %+v: want duration 20s", e)
		}
	}
}

func node(conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-1"}, Status: corev1.NodeStatus{Conditions: conds}}
}

func cond(typ corev1.NodeConditionType, st corev1.ConditionStatus, at time.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: typ, Status: st, LastTransitionTime: metav1.NewTime(at), Reason: "KubeletHasDiskPressure", Message: "disk 97% full"}
}

func TestNodeTransitions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0.Add(time.Hour)
	healthy := node(cond(corev1.NodeReady, corev1.ConditionTrue, t0), cond(corev1.NodeDiskPressure, corev1.ConditionFalse, t0))

	evs, st := NodeTransitions("lab", nil, healthy, now)
	if len(evs) != 0 || len(st) != 2 {
		t.Fatalf("a healthy new node: %d events, state %v", len(evs), st)
	}
	// Same again: nothing.
	if evs, _ := NodeTransitions("lab", st, healthy, now); len(evs) != 0 {
		t.Fatalf("no change, %d events", len(evs))
	}
	t1 := t0.Add(30 * time.Minute)
	pressure := node(cond(corev1.NodeReady, corev1.ConditionTrue, t0), cond(corev1.NodeDiskPressure, corev1.ConditionTrue, t1))
	evs, st = NodeTransitions("lab", st, pressure, now)
	if len(evs) != 1 || evs[0].Condition != "DiskPressure" || evs[0].Status != "True" || evs[0].Severity != events.SeverityCritical ||
		evs[0].Node != "cp-1" || !evs[0].Since.Equal(t1) || evs[0].Component != events.ComponentNode {
		t.Fatalf("disk pressure: %+v", evs)
	}
	if err := evs[0].Validate(); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(10 * time.Minute)
	evs, _ = NodeTransitions("lab", st, node(cond(corev1.NodeReady, corev1.ConditionUnknown, t2), cond(corev1.NodeDiskPressure, corev1.ConditionFalse, t2)), now)
	if len(evs) != 2 {
		t.Fatalf("want NotReady and recovered disk, got %+v", evs)
	}
	for _, e := range evs {
		switch e.Condition {
		case "Ready":
			if e.Status != "Unknown" || e.Severity != events.SeverityCritical {
				t.Errorf("ready: %+v", e)
			}
		case "DiskPressure":
			if e.Status != "False" || e.Severity != events.SeverityInfo || e.Duration != "10m0s" {
				t.Errorf("disk recovered: %+v", e)
			}
		}
	}
	// A node first seen while bad reports it.
	if evs, _ := NodeTransitions("lab", nil, pressure, now); len(evs) != 1 {
		t.Fatalf("bad new node: %+v", evs)
	}
}

func TestProbeMessage(t *testing.T) {
	readyz := errors.New(`an error on the server ("[+]ping ok\n[+]etcd ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n[+]shutdown ok\nreadyz check failed") has prevented the request from succeeding`)
	if got, want := ProbeMessage(readyz), "readyz failing: poststarthook/rbac/bootstrap-roles failed: reason withheld"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	long := errors.New(strings.Repeat("x", 400))
	if got := ProbeMessage(long); len(got) != 300 {
		t.Errorf("long message kept %d bytes", len(got))
	}
}
