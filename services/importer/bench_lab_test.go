package importer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkBootstrapMarketplace measures driftgate import --bootstrap of the
// 10-object marketplace workspace from an empty state, as a CI step runs it:
// init of a fresh working copy, the plan, ten gated imports and the final
// plan. Each iteration starts from a new empty state key.
func BenchmarkBootstrapMarketplace(b *testing.B) {
	l := lab.Start(b)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		b.Run(string(bin), func(b *testing.B) {
			ctx := context.Background()
			ns := "bench-" + string(bin)
			seedLive(b, l, marketplaceDir, bin, "seed/"+ns+".tfstate", "namespace="+ns)
			var imports time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cfg, env := workspaceConfig(b, l, marketplaceDir, bin, "marketplace", fmt.Sprintf("bench/%s-%d.tfstate", ns, i),
					fmt.Sprintf("namespace = %q\n", ns), "")
				b.StartTimer()
				res, err := Bootstrap(ctx, BootstrapOptions{Config: cfg, Workspace: "marketplace", DataDir: b.TempDir(), Env: env})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if len(res.Items) != 10 || res.Failed() || !res.Clean {
					b.Fatalf("bootstrap: %d items, failed %v, clean %v", len(res.Items), res.Failed(), res.Clean)
				}
				for _, it := range res.Items {
					if it.Status != execute.Succeeded {
						b.Fatalf("%s: %s %s", it.Finding.Address, it.Status, it.Reason)
					}
					imports += time.Duration(it.DurationMS) * time.Millisecond
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "bootstrap-ms/op")
			b.ReportMetric(float64(imports.Milliseconds())/float64(b.N)/10, "ms/import")
		})
	}
}
