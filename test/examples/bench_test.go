package examples_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkMarketplace measures init, the first apply and a zero-diff plan
// of examples/marketplace with each tool, against one lab, each iteration in
// a fresh namespace and state key. Medians are reported as init-s, apply-s
// and plan-s:
//
//	go test ./examples -run '^$' -bench Marketplace -benchtime 5x
func BenchmarkMarketplace(b *testing.B) {
	l := lab.Start(b)
	ctx := context.Background()
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		b.Run(string(bin), func(b *testing.B) {
			var inits, applies, plans []time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				id := fmt.Sprintf("%s-%d-%d", bin, b.N, i)
				w := l.NewWorkspace(b, marketplaceDir, bin, "bench/"+id+"/terraform.tfstate")
				ns := tfexec.Var("namespace=bench-" + id)
				b.StartTimer()

				inits = append(inits, timed(b, func() error { return w.Init(ctx) }))
				applies = append(applies, timed(b, func() error { return w.Apply(ctx, ns) }))
				plans = append(plans, timed(b, func() error {
					changes, err := w.Plan(ctx, ns)
					if err == nil && changes {
						err = fmt.Errorf("plan after apply has changes")
					}
					return err
				}))
			}
			b.ReportMetric(median(inits).Seconds(), "init-s")
			b.ReportMetric(median(applies).Seconds(), "apply-s")
			b.ReportMetric(median(plans).Seconds(), "plan-s")
		})
	}
}

func timed(b *testing.B, f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
