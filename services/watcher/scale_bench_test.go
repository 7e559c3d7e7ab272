package watcher_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/test/lab"
)

// scaleObjectsEnv shrinks BenchmarkWatcherScale's object count (default
// 100,000).
const scaleObjectsEnv = "DRIFTGATE_BENCH_WATCH_OBJECTS"

// BenchmarkWatcherScale watches 100,000 ConfigMaps (spread over 50
// namespaces of a lab of its own) with a watcher process of its own, so its
// resident memory is the watcher's alone. Figures:
//
//   - first-sync: from the process's start to Synced=True (the paged initial
//     list in the informer's cache), and to every object's inventory record
//     written (the first sync records silently);
//   - peak RSS (VmHWM) of that process;
//   - restart: the process is killed (SIGKILL); while it is down 1% of the
//     objects are patched, 1% deleted and 1% created; a new process loads
//     the inventory, relists, and publishes every one of those changes.
//     Measured: start to Synced=True, start to the last of those events,
//     and that process's peak RSS.
func BenchmarkWatcherScale(b *testing.B) {
	objects := 100_000
	if v := os.Getenv(scaleObjectsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("%s=%q: want a number ≥ 100", scaleObjectsEnv, v)
		}
		objects = n
	}
	const namespaces = 50
	l := lab.Start(b, lab.WithoutS3(), lab.WithoutControllerManager(), lab.WithStartTimeout(5*time.Minute))
	rc := l.RESTConfig()
	rc.QPS, rc.Burst = 10000, 20000
	kube := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	nsOf := func(i int) string { return fmt.Sprintf("scale-%02d", i%namespaces) }
	for i := range namespaces {
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsOf(i)}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	t0 := time.Now()
	forEach(b, 32, 0, objects, func(i int) error { return createScaleCM(kube, nsOf(i), i) })
	created := time.Since(t0)
	b.Logf("created %d ConfigMaps in %d namespaces in %s (%.0f/s, 32 clients)", objects, namespaces, created.Round(time.Millisecond), float64(objects)/created.Seconds())

	env := eventstest.Start(b)
	s := collect(b, env)
	cfg := childConfig(l.Kubeconfig, []string{"configmaps"}, nil, "")
	b.ResetTimer()

	// First sync: the whole list, every inventory record written.
	start := time.Now()
	a := startChild(b, env, cfg)
	s.wait(b, 10*time.Minute, "first watcher synced", synced(fmt.Sprintf("-%d", a.pid())))
	syncedAfter := time.Since(start)
	waitInventory(b, env, objects, 10*time.Minute)
	recordedAfter := time.Since(start)
	hwmA, rssA := procStatusKB(b, a.pid(), "VmHWM"), procStatusKB(b, a.pid(), "VmRSS")
	b.Logf("first sync of %d ConfigMaps: Synced=True after %s, every inventory record written after %s; watcher process VmHWM %.1f MB, VmRSS %.1f MB",
		objects, syncedAfter.Round(time.Millisecond), recordedAfter.Round(time.Millisecond), float64(hwmA)/1024, float64(rssA)/1024)
	b.ReportMetric(syncedAfter.Seconds(), "first-synced-s")
	b.ReportMetric(recordedAfter.Seconds(), "first-recorded-s")
	b.ReportMetric(float64(hwmA)/1024, "peak-RSS-MB")

	// Down: 1% patched, 1% deleted, 1% created.
	a.kill()
	changes := max(objects/100, 1)
	b.StopTimer()
	forEach(b, 32, 0, changes, func(i int) error {
		_, err := kube.CoreV1().ConfigMaps(nsOf(i)).Patch(ctx, fmt.Sprintf("cm-%06d", i), types.MergePatchType,
			[]byte(`{"data":{"color":"green"}}`), metav1.PatchOptions{FieldManager: "kubectl-patch"})
		return err
	})
	forEach(b, 32, objects-changes, objects, func(i int) error {
		return kube.CoreV1().ConfigMaps(nsOf(i)).Delete(ctx, fmt.Sprintf("cm-%06d", i), metav1.DeleteOptions{})
	})
	forEach(b, 32, objects, objects+changes, func(i int) error { return createScaleCM(kube, nsOf(i), i) })
	b.StartTimer()

	mark := s.Mark()
	start = time.Now()
	c := startChild(b, env, cfg)
	src := fmt.Sprintf("-%d", c.pid())
	s.WaitFor(b, mark, 10*time.Minute, "restarted watcher synced", synced(src))
	resyncedAfter := time.Since(start)
	want := 3 * changes
	relisted := func(r received) bool {
		oc, ok := r.Data.(*events.ObjectChanged)
		return ok && oc.Relist && oc.Object.Kind == "ConfigMap"
	}
	deadline := time.Now().Add(10 * time.Minute)
	for s.Count(mark, relisted) < want {
		if time.Now().After(deadline) {
			b.Fatalf("restart: %d of %d changes made while down published after 10 minutes", s.Count(mark, relisted), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	publishedAfter := time.Since(start)
	hwmC := procStatusKB(b, c.pid(), "VmHWM")
	b.StopTimer()
	byChange := map[string]int{}
	for _, r := range s.Since(mark) {
		if oc, ok := r.Data.(*events.ObjectChanged); ok && relisted(r) {
			byChange[oc.Change]++
		}
	}
	if byChange[events.ChangeUpdated] != changes || byChange[events.ChangeDeleted] != changes || byChange[events.ChangeAdded] != changes {
		b.Fatalf("restart published %v, want %d of each", byChange, changes)
	}
	b.Logf("restart over %d objects (%d patched, %d deleted, %d created while down): Synced=True after %s, all %d changes published after %s; watcher process VmHWM %.1f MB",
		objects, changes, changes, changes, resyncedAfter.Round(time.Millisecond), want, publishedAfter.Round(time.Millisecond), float64(hwmC)/1024)
	b.ReportMetric(resyncedAfter.Seconds(), "restart-synced-s")
	b.ReportMetric(publishedAfter.Seconds(), "restart-published-s")
	b.ReportMetric(float64(hwmC)/1024, "restart-peak-RSS-MB")
	b.ReportMetric(float64(objects)/created.Seconds(), "apiserver-creates/s")

	// DRIFTGATE_BENCH_WATCH_GOGC=50, DRIFTGATE_BENCH_WATCH_GOMEMLIMIT=250MiB:
	// once more, nothing changed, with that GOGC and memory limit (the
	// heap's headroom over the cache).
	var tuned []string
	if v := os.Getenv(scaleGOGCEnv); v != "" {
		tuned = append(tuned, "GOGC="+v)
	}
	if v := os.Getenv(scaleMemLimitEnv); v != "" {
		tuned = append(tuned, "GOMEMLIMIT="+v)
	}
	if len(tuned) > 0 {
		c.kill()
		mark, start = s.Mark(), time.Now()
		d := startChild(b, env, cfg, tuned...)
		s.WaitFor(b, mark, 10*time.Minute, "restarted watcher synced", synced(fmt.Sprintf("-%d", d.pid())))
		syncedD := time.Since(start)
		// Every known object is compared once it synced; a marker created
		// now is queued after all of them.
		if err := createScaleCM(kube, nsOf(0), objects+changes); err != nil {
			b.Fatal(err)
		}
		s.WaitFor(b, mark, 10*time.Minute, "the marker", isChange("ConfigMap", nsOf(0), fmt.Sprintf("cm-%06d", objects+changes), events.ChangeAdded))
		hwmD := procStatusKB(b, d.pid(), "VmHWM")
		b.Logf("restart with %s, nothing changed: Synced=True after %s, every object compared after %s; VmHWM %.1f MB",
			strings.Join(tuned, " "), syncedD.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), float64(hwmD)/1024)
		b.ReportMetric(float64(hwmD)/1024, "tuned-restart-peak-RSS-MB")
	}
}

// scaleGOGCEnv and scaleMemLimitEnv add a last restart with this GOGC and
// GOMEMLIMIT to BenchmarkWatcherScale.
const (
	scaleGOGCEnv     = "DRIFTGATE_BENCH_WATCH_GOGC"
	scaleMemLimitEnv = "DRIFTGATE_BENCH_WATCH_GOMEMLIMIT"
)

func createScaleCM(kube kubernetes.Interface, ns string, i int) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%06d", i), Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 10)}},
		Data: map[string]string{
			"color":       "red",
			"endpoint":    fmt.Sprintf("https://svc-%d.bench.svc.cluster.local:8443/api/v1", i),
			"config.yaml": "retries: 3\ntimeout: 10s\nlog_level: info\nfeature_flags: [a, b, c]\n",
		},
	}
	_, err := kube.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{FieldManager: "kubectl-create"})
	return err
}

// forEach runs f(i) for i in [from, to) on n goroutines; the first error
// fails b.
func forEach(b testing.TB, n, from, to int, f func(int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	var next atomic.Int64
	next.Store(int64(from))
	for range n {
		wg.Go(func() {
			for failed.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				if err := f(i); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// waitInventory waits until the inventory bucket holds n records.
func waitInventory(b testing.TB, env *eventstest.Env, n int, timeout time.Duration) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := env.Buckets.Inventory.Status(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if st.Values() >= uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("inventory holds %d records after %s, want %d", st.Values(), timeout, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
