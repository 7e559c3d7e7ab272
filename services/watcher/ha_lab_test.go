package watcher_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/watcher/internal/cluster"
	"github.com/driftgate/driftgate/test/lab"
)

// testLeaderElection runs two watcher processes on one Lease, kills the
// leader (SIGKILL: the Lease is not released) and checks that the standby
// takes over within the lease duration and publishes.
func testLeaderElection(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	cms := l.Kube().CoreV1().ConfigMaps(ns)
	env := eventstest.Start(t)
	s := collect(t, env)
	const lease, renew, retry = 4 * time.Second, 3 * time.Second, 500 * time.Millisecond
	cfg := childConfig(l.Kubeconfig, []string{"configmaps"}, []string{ns}, fmt.Sprintf("  leader_election: true\n  lease_namespace: %s\n", ns))
	leaseEnv := fmt.Sprintf("%s=%s,%s,%s", childLeaseEnv, lease, renew, retry)

	a := startChild(t, env, cfg, leaseEnv)
	holder := waitLeaseHolder(t, l, ns, func(h string) bool { return strings.HasSuffix(h, fmt.Sprintf("-%d", a.pid())) })
	b := startChild(t, env, cfg, leaseEnv)
	s.wait(t, time.Minute, "leader synced", synced(holder))

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := s.wait(t, 30*time.Second, "change seen by the leader", isChange("ConfigMap", ns, "before", events.ChangeAdded))
	if !strings.HasSuffix(r.Event.Source(), holder) {
		t.Fatalf("published by %s, want the leader %s", r.Event.Source(), holder)
	}

	a.kill()
	killed := time.Now()
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	newHolder := waitLeaseHolder(t, l, ns, func(h string) bool { return strings.HasSuffix(h, fmt.Sprintf("-%d", b.pid())) })
	took := time.Since(killed)
	r = s.wait(t, 30*time.Second, "change published by the new leader", isChange("ConfigMap", ns, "after", events.ChangeAdded))
	if !strings.HasSuffix(r.Event.Source(), newHolder) {
		t.Fatalf("published by %s, want the new leader %s", r.Event.Source(), newHolder)
	}
	t.Logf("standby %s took over %s after the leader was killed (lease %s); change published %s after the kill",
		newHolder, took.Round(100*time.Millisecond), lease, time.Since(killed).Round(100*time.Millisecond))
	// Exactly one report of each change, whoever published.
	for _, name := range []string{"before", "after"} {
		if got := s.changes("ConfigMap", ns, name); len(got) != 1 {
			t.Errorf("%s reported %d times", name, len(got))
		}
	}
}

func waitLeaseHolder(t *testing.T, l *lab.Lab, ns string, ok func(string) bool) string {
	t.Helper()
	name := cluster.LeaseName("lab")
	deadline := time.Now().Add(45 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		le, err := l.Kube().CoordinationV1().Leases(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && le.Spec.HolderIdentity != nil {
			last = *le.Spec.HolderIdentity
			if ok(last) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("lease %s/%s: holder %q never became the expected one", ns, name, last)
	return ""
}
