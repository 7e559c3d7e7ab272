package execute_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
	"github.com/driftgate/driftgate/test/lab"
)

// BenchmarkGatedImport measures one gated import of a Deployment (preflight,
// lock, import, verify by targeted re-plan, settle, untouched check) against
// one targeted plan of the same address in the same run, with OpenTofu. The
// state is emptied between iterations (not timed).
func BenchmarkGatedImport(b *testing.B) {
	l := lab.Start(b)
	ctx := context.Background()
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		b.Run(string(bin), func(b *testing.B) {
			s := newShop(b, l, bin, "bench-"+string(bin))
			addr := "kubernetes_deployment.web"
			var importT, planT time.Duration
			steps := map[string]time.Duration{}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if _, err := l.S3.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(s.key)}); err != nil {
					b.Fatal(err)
				}
				req := s.request(b, addr, s.deployment(), s.ns+"/web")
				req.ID = fmt.Sprintf("%s-%d", req.ID, i)
				b.StartTimer()
				t0 := time.Now()
				out, err := engine(b).Execute(ctx, s.ws, req)
				importT += time.Since(t0)
				if err != nil || out.Status != execute.Succeeded {
					b.Fatalf("import: %+v %v", out, err)
				}
				for k, v := range out.Timings {
					steps[k] += v
				}
				t0 = time.Now()
				if _, err := s.ws.TF.PlanJSON(ctx, tofu.PlanOptions{Targets: []string{addr}}); err != nil {
					b.Fatal(err)
				}
				planT += time.Since(t0)
			}
			n := float64(b.N)
			b.ReportMetric(float64(importT.Milliseconds())/n, "gated-ms/op")
			b.ReportMetric(float64(planT.Milliseconds())/n, "plan-ms/op")
			b.ReportMetric(float64(importT)/float64(planT), "gated/plan")
			for _, k := range []string{execute.StepImport, execute.StepVerify, execute.StepSettle} {
				b.ReportMetric(float64(steps[k].Milliseconds())/n, k+"-ms/op")
			}
		})
	}
}
