package lab_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkLabStart measures how long a lab takes from New to ready, and
// reports the median start time (start-median-s) besides the mean. The
// note's figure comes from:
//
//	go test ./lab -run '^$' -bench LabStart -benchtime 5x
func BenchmarkLabStart(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []lab.Option
	}{
		{"full", nil},
		{"no-controller-manager", []lab.Option{lab.WithoutControllerManager()}},
		{"kube-only", []lab.Option{lab.WithoutControllerManager(), lab.WithoutS3()}},
		{"s3-only", []lab.Option{lab.WithoutKubernetes()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var starts []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				l, err := lab.New(context.Background(), b.TempDir(), c.opts...)
				if err != nil {
					b.Fatal(err)
				}
				starts = append(starts, time.Since(start))
				b.StopTimer()
				if err := l.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(median(starts).Seconds(), "start-median-s")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
