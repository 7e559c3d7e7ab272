package watcher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/test/lab"
)

// testNodeHealth creates a Node object and sets DiskPressure through its
// status, as a kubelet would (there is no kubelet in the lab).
func testNodeHealth(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, testConfig(l.Kubeconfig, []string{"configmaps"}, ns), "nodes")
	s.wait(t, time.Minute, "watcher synced", synced("nodes"))

	nodes := l.Kube().CoreV1().Nodes()
	name := fmt.Sprintf("cp-%d", time.Now().UnixNano()%100000)
	n, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nodes.Delete(context.Background(), name, metav1.DeleteOptions{}) })
	setConds := func(disk corev1.ConditionStatus, at time.Time) {
		t.Helper()
		// kube-controller-manager writes to new Nodes too: retry on conflict.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := nodes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Conditions = []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastTransitionTime: metav1.NewTime(n.CreationTimestamp.Time), LastHeartbeatTime: metav1.Now()},
				{Type: corev1.NodeDiskPressure, Status: disk, Reason: "KubeletHasDiskPressure", Message: "ephemeral-storage 97% used", LastTransitionTime: metav1.NewTime(at), LastHeartbeatTime: metav1.Now()},
			}
			_, err = nodes.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	healthyAt := time.Now().Add(-time.Hour).Truncate(time.Second)
	setConds(corev1.ConditionFalse, healthyAt)
	pressureAt := time.Now().Truncate(time.Second)
	setConds(corev1.ConditionTrue, pressureAt)
	r := s.wait(t, 30*time.Second, "DiskPressure=True", func(r received) bool {
		h, ok := r.Data.(*events.ClusterHealth)
		return ok && isHealth(events.ComponentNode, "DiskPressure", "True")(r) && h.Node == name
	})
	h := r.Data.(*events.ClusterHealth)
	if h.Severity != events.SeverityCritical || !h.Since.Equal(pressureAt) || h.Cluster != "lab" || h.Message == "" {
		t.Fatalf("disk pressure event %+v", h)
	}
	recoveredAt := pressureAt.Add(90 * time.Second)
	setConds(corev1.ConditionFalse, recoveredAt)
	r = s.wait(t, 30*time.Second, "DiskPressure=False", func(r received) bool {
		h, ok := r.Data.(*events.ClusterHealth)
		return ok && isHealth(events.ComponentNode, "DiskPressure", "False")(r) && h.Node == name
	})
	if h := r.Data.(*events.ClusterHealth); h.Severity != events.SeverityInfo || h.Duration != "1m30s" {
		t.Fatalf("recovery event %+v", h)
	}
	// The healthy first sighting and the heartbeat-only updates say nothing.
	count := 0
	for _, r := range s.all() {
		if h, ok := r.Data.(*events.ClusterHealth); ok && h.Node == name {
			count++
		}
	}
	if count != 2 {
		t.Fatalf("%d node events, want 2:\n%s", count, s.Describe(0))
	}
}

// testOutage stops the API server for 20 s: the watcher reports it
// unreachable, then recovered with the outage's length, and sees the
// changes made right after recovery.
func testOutage(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	env := eventstest.Start(t)
	s := collect(t, env)
	startWatcher(t, env, testConfig(l.Kubeconfig, []string{"configmaps"}, ns), "outage", fastProbe)
	s.wait(t, time.Minute, "watcher synced", synced("outage"))

	stopped := time.Now()
	if err := l.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	r := s.wait(t, 30*time.Second, "Unreachable=True", isHealth(events.ComponentAPIServer, "Unreachable", "True"))
	down := r.Data.(*events.ClusterHealth)
	if down.Severity != events.SeverityCritical || down.Message == "" {
		t.Fatalf("outage event %+v", down)
	}
	time.Sleep(20*time.Second - time.Since(stopped))
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := l.StartAPIServer(sctx); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(stopped)
	t.Logf("API server ready again %s after the stop", outage.Round(100*time.Millisecond))
	cms := l.Kube().CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-recovery"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = s.wait(t, 30*time.Second, "Unreachable=False", isHealth(events.ComponentAPIServer, "Unreachable", "False"))
	up := r.Data.(*events.ClusterHealth)
	d, err := time.ParseDuration(up.Duration)
	if err != nil || !up.Since.Equal(down.Since) || up.Severity != events.SeverityInfo {
		t.Fatalf("recovery event %+v", up)
	}
	if d < 15*time.Second || d > outage+10*time.Second {
		t.Fatalf("recovery reports an outage of %s; the API server was down %s", d, outage.Round(time.Second))
	}
	s.wait(t, time.Minute, "change right after recovery", isChange("ConfigMap", ns, "after-recovery", events.ChangeAdded))
	t.Logf("outage reported %s after the stop; recovery reports %s", down.ObservedAt.Sub(stopped).Round(100*time.Millisecond), up.Duration)
}
