package watcher_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/watcher/internal/cluster"
	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkWatcher measures the watcher against the lab's kube-apiserver and
// an in-process JetStream server. Figures are custom metrics:
//
//   - Relist: events/s from the informer's cache to JetStream's ack (each
//     event also writes its inventory record), for 10,000 ConfigMaps that
//     appeared while no watcher ran.
//   - Live: events/s while 16 clients create ConfigMaps as fast as the API
//     server takes them (the API server is the bottleneck; its rate is
//     reported beside).
//   - ChangeToAck: from just before a patch is sent to the ack of its event,
//     p50 and p95.
//   - PeakRSS10kConfigMaps: VmHWM of a watcher process watching 10,000
//     ConfigMaps after its first sync.
func BenchmarkWatcher(b *testing.B) {
	l := lab.Start(b, lab.WithoutS3(), lab.WithoutControllerManager())
	rc := l.RESTConfig()
	rc.QPS, rc.Burst = 5000, 10000
	kube := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	// bench holds exactly the 10,000 ConfigMaps; the live and latency runs
	// write to bench-live.
	ns, liveNS := "bench", "bench-live"
	for _, n := range []string{ns, liveNS} {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	const objects = 10000
	start := time.Now()
	createConfigMaps(b, kube, ns, "cm", 0, objects)
	b.Logf("created %d ConfigMaps in %s (%.0f/s)", objects, time.Since(start).Round(time.Millisecond), objects/time.Since(start).Seconds())

	b.Run("Relist", func(b *testing.B) {
		env := eventstest.Start(b)
		// Not the first sync: everything found is reported (added while down).
		if _, err := env.Buckets.State.Put(ctx, cluster.BaselineKey("lab", "configmaps"), []byte("x")); err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		var first, last atomic.Int64
		done := make(chan struct{})
		b.ResetTimer()
		cpu0 := cpuTime(b)
		startWatcher(b, env, testConfig(l.Kubeconfig, []string{"configmaps"}, ns), "bench-relist", func(o *cluster.Options) {
			o.OnPublished = func(*events.ObjectChanged) {
				now := time.Now().UnixNano()
				first.CompareAndSwap(0, now)
				last.Store(now)
				if n.Add(1) == objects {
					close(done)
				}
			}
		})
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d events after 5 minutes", n.Load(), objects)
		}
		b.StopTimer()
		cpu := cpuTime(b) - cpu0
		secs := time.Duration(last.Load() - first.Load()).Seconds()
		b.ReportMetric(float64(objects-1)/secs, "events/s")
		b.ReportMetric(float64(cpu.Microseconds())/objects, "cpu-µs/event")
		b.Logf("relist: %d events acked in %.2fs from the first ack: %.0f events/s; %.0f µs of CPU per event (list, watcher and the in-process JetStream server)",
			objects, secs, float64(objects-1)/secs, float64(cpu.Microseconds())/objects)
	})

	b.Run("Live", func(b *testing.B) {
		env := eventstest.Start(b)
		s := collect(b, env)
		var n atomic.Int64
		startWatcher(b, env, testConfig(l.Kubeconfig, []string{"configmaps"}, liveNS), "bench-live", func(o *cluster.Options) {
			o.OnPublished = func(*events.ObjectChanged) { n.Add(1) }
		})
		s.wait(b, 2*time.Minute, "synced", synced("bench-live"))
		count := max(b.N, 3000)
		prefix := fmt.Sprintf("live%d-", time.Now().UnixNano()%100000)
		b.ResetTimer()
		t0 := time.Now()
		createConfigMaps(b, kube, liveNS, prefix, 0, count)
		created := time.Since(t0)
		deadline := time.Now().Add(2 * time.Minute)
		for n.Load() < int64(count) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		total := time.Since(t0)
		b.StopTimer()
		if n.Load() < int64(count) {
			b.Fatalf("only %d of %d events", n.Load(), count)
		}
		b.ReportMetric(float64(count)/total.Seconds(), "events/s")
		b.ReportMetric(float64(count)/created.Seconds(), "apiserver-creates/s")
		b.Logf("live: %d creates in %s, all %d events acked %s after the first create", count, created.Round(time.Millisecond), count, total.Round(time.Millisecond))
	})

	b.Run("ChangeToAck", func(b *testing.B) {
		env := eventstest.Start(b)
		s := collect(b, env)
		acked := make(chan string, 16)
		startWatcher(b, env, testConfig(l.Kubeconfig, []string{"configmaps"}, liveNS), "bench-latency", func(o *cluster.Options) {
			o.OnPublished = func(oc *events.ObjectChanged) {
				if oc.Object.Name == "latency" {
					acked <- oc.ResourceVersion
				}
			}
		})
		s.wait(b, 2*time.Minute, "synced", synced("bench-latency"))
		cms := kube.CoreV1().ConfigMaps(liveNS)
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "latency"}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		<-acked
		count := max(b.N, 300)
		lat := make([]time.Duration, 0, count)
		b.ResetTimer()
		for i := range count {
			t0 := time.Now()
			cm, err := cms.Patch(ctx, "latency", types.MergePatchType, []byte(`{"data":{"i":"`+strconv.Itoa(i)+`"}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"})
			if err != nil {
				b.Fatal(err)
			}
			for rv := ""; rv != cm.ResourceVersion; {
				select {
				case rv = <-acked:
				case <-time.After(30 * time.Second):
					b.Fatalf("change %d (rv %s) not acked", i, cm.ResourceVersion)
				}
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(5 * time.Millisecond) // one change at a time, not a burst
		}
		b.StopTimer()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
		b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p(0.95).Microseconds())/1000, "p95-ms")
		b.Logf("change-to-ack over %d patches: p50 %s, p95 %s, max %s", count, p(0.50), p(0.95), lat[len(lat)-1])
	})

	b.Run("PeakRSS10kConfigMaps", func(b *testing.B) {
		env := eventstest.Start(b)
		s := collect(b, env)
		b.ResetTimer()
		c := startChild(b, env, childConfig(l.Kubeconfig, []string{"configmaps"}, []string{ns}, ""))
		s.wait(b, 5*time.Minute, "synced", synced(fmt.Sprintf("-%d", c.pid())))
		// The first sync writes every inventory record; wait for all of them.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			st, err := env.Buckets.Inventory.Status(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if st.Values() >= objects || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(time.Second)
		b.StopTimer()
		hwm, rss := procStatusKB(b, c.pid(), "VmHWM"), procStatusKB(b, c.pid(), "VmRSS")
		b.ReportMetric(float64(hwm)/1024, "peak-RSS-MB")
		b.Logf("watcher process %d watching %d ConfigMaps: VmHWM %.1f MB, VmRSS %.1f MB", c.pid(), objects, float64(hwm)/1024, float64(rss)/1024)
	})
}

func createConfigMaps(b testing.TB, kube kubernetes.Interface, ns, prefix string, from, to int) {
	b.Helper()
	cms := kube.CoreV1().ConfigMaps(ns)
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	next.Store(int64(from))
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%05d", prefix, i), Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 10)}},
					Data: map[string]string{
						"color":       "red",
						"endpoint":    fmt.Sprintf("https://svc-%d.bench.svc.cluster.local:8443/api/v1", i),
						"config.yaml": "retries: 3\ntimeout: 10s\nlog_level: info\nfeature_flags: [a, b, c]\n",
					},
				}
				if _, err := cms.Create(context.Background(), cm, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

func procStatusKB(b testing.TB, pid int, field string) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("/proc/%d/status has no %s", pid, field)
	return 0
}

// cpuTime is the CPU (user + system) this process used so far.
func cpuTime(b testing.TB) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
