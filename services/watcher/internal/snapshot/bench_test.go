package snapshot

import (
	"fmt"
	"runtime"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func benchConfigMap(i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{
			"name": fmt.Sprintf("cm%05d", i), "namespace": "bench", "uid": fmt.Sprintf("0b7c1e2a-%04d-4f7e-9d1c-5a6b7c8d9e0f", i%10000),
			"resourceVersion": fmt.Sprint(1000 + i), "creationTimestamp": "2026-01-01T00:00:00Z",
			"labels": map[string]any{"app": "bench", "shard": fmt.Sprint(i % 10)},
			"managedFields": []any{map[string]any{
				"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1",
				"fieldsV1": map[string]any{
					"f:data":     map[string]any{".": map[string]any{}, "f:color": map[string]any{}, "f:endpoint": map[string]any{}, "f:config.yaml": map[string]any{}},
					"f:metadata": map[string]any{"f:labels": map[string]any{".": map[string]any{}, "f:app": map[string]any{}, "f:shard": map[string]any{}}},
				},
			}},
		},
		"data": map[string]any{
			"color": "red", "endpoint": fmt.Sprintf("https://svc-%d.bench.svc.cluster.local:8443/api/v1", i),
			"config.yaml": "retries: 3\ntimeout: 10s\nlog_level: info\nfeature_flags: [a, b, c]\n",
		},
	}}
}

// BenchmarkBuild measures turning an object into a snapshot (the informer
// transform).
func BenchmarkBuild(b *testing.B) {
	bl := NewBuilder(false)
	objs := make([]*unstructured.Unstructured, 10000)
	for i := range objs {
		objs[i] = benchConfigMap(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := bl.Build(objs[i%len(objs)], false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChanged measures the diff and attribution of one update.
func BenchmarkChanged(b *testing.B) {
	bl := NewBuilder(false)
	old, _ := bl.Build(benchConfigMap(1), false)
	u := benchConfigMap(1)
	u.Object["data"].(map[string]any)["color"] = "blue"
	cur, _ := bl.Build(u, false)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p := Changed(old, cur, nil)
		if len(p) != 1 {
			b.Fatal(p)
		}
		_ = cur.Attribution(p)
	}
}

// BenchmarkRetained measures what the informer cache keeps per object: the
// live heap of 100,000 snapshots of ConfigMaps like BenchmarkWatcherScale's
// (2 labels, 3 data keys, one field manager), after a collection.
func BenchmarkRetained(b *testing.B) {
	const n = 100_000
	bl := NewBuilder(false)
	for range b.N {
		keep := make([]*Snapshot, n)
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := range keep {
			s, err := bl.Build(benchConfigMap(i), false)
			if err != nil {
				b.Fatal(err)
			}
			keep[i] = s
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "live-B/object")
		runtime.KeepAlive(keep)
	}
}
