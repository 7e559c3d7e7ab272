package planner_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// TestGateLab runs driftgate gate's seeds against the lab with OpenTofu and
// with Terraform: unimported objects with their import IDs, a patched field,
// a Secret change with no value in the output, an unapplied config edit
// (with and without --allow), a deleted object, a held state lock, and a
// broken configuration.
func TestGateLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t)
	for _, bin := range []lab.Binary{lab.Tofu, lab.Terraform} {
		t.Run(string(bin), func(t *testing.T) { testGate(t, l, bin) })
	}
}

type gateRun struct {
	t    *testing.T
	l    *lab.Lab
	cfg  *config.File
	data string
}

func (g gateRun) run(allow ...string) (*gate.Report, error) {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return gate.Run(ctx, gate.Options{
		Config: g.cfg, Workspace: g.cfg.Workspaces[0].Name, Allow: allow, DataDir: g.data,
		Environ: toolEnv(g.l), Kube: g.l.RESTConfig(), Log: quietLog(),
	})
}

func (g gateRun) must(allow ...string) *gate.Report {
	g.t.Helper()
	r, err := g.run(allow...)
	if err != nil {
		g.t.Fatalf("gate: %v", err)
	}
	return r
}

func byClass(r *gate.Report) map[string][]events.Finding {
	m := map[string][]events.Finding{}
	for _, f := range r.Findings {
		m[f.Class] = append(m[f.Class], f)
	}
	return m
}

func dumpReport(r *gate.Report) string {
	var b bytes.Buffer
	_ = r.Write(&b, "text")
	return b.String()
}

func testGate(t *testing.T, l *lab.Lab, bin lab.Binary) {
	ns := "gate-" + string(bin)
	vars := map[string]string{"namespace": `"` + ns + `"`}
	// The objects go live through a workspace whose state the gate never
	// reads ...
	seed := prepare(t, l, marketplaceSrc, bin, "gate/"+string(bin)+"/seed.tfstate", vars)
	apply(t, seed)
	// ... so a workspace with empty state finds all of them live.
	empty := prepare(t, l, marketplaceSrc, bin, "gate/"+string(bin)+"/empty.tfstate", vars)
	data := t.TempDir()

	t.Run("EmptyStateEveryObjectUnimported", func(t *testing.T) {
		g := gateRun{t, l, workspaceConfig(l, "marketplace", empty.Dir, bin, ns), data}
		r := g.must()
		want := marketplaceImportIDs(ns)
		if r.Clean || r.ExitCode() != gate.ExitDrift {
			t.Fatalf("want drift, got clean:\n%s", dumpReport(r))
		}
		got := map[string]string{}
		for _, f := range r.Findings {
			if f.Class != events.ClassUnimported {
				t.Errorf("%s: class %s, want unimported (nothing is plain drift)", f.Address, f.Class)
				continue
			}
			got[f.Address] = f.ImportID
			if f.Object.UID == "" {
				t.Errorf("%s: no live uid", f.Address)
			}
		}
		for addr, id := range want {
			if got[addr] != id {
				t.Errorf("%s: import id %q, want %q", addr, got[addr], id)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d unimported, want %d:\n%s", len(got), len(want), dumpReport(r))
		}
	})

	g := gateRun{t, l, workspaceConfig(l, "marketplace", seed.Dir, bin, ns), data + "-seed"}
	t.Run("Clean", func(t *testing.T) {
		r := g.must()
		if !r.Clean || r.ExitCode() != gate.ExitClean {
			t.Fatalf("want clean:\n%s", dumpReport(r))
		}
	})

	t.Run("PatchedFieldIsChanged", func(t *testing.T) {
		patch(t, l, "kubectl-patch", "deployments", ns, "marketplace", `{"spec":{"replicas":5}}`)
		patch(t, l, "kubectl-scale", "deployments", ns, "recommendations", `{"spec":{"replicas":3}}`)
		r := g.must()
		c := byClass(r)
		if r.ExitCode() != gate.ExitDrift || len(c[events.ClassChanged]) != 2 || len(r.Findings) != 2 {
			t.Fatalf("want two changed findings:\n%s", dumpReport(r))
		}
		for _, f := range c[events.ClassChanged] {
			want := map[string]string{"kubernetes_deployment.marketplace": "kubectl-patch", "kubectl_manifest.recommendations_deployment": "kubectl-scale"}[f.Address]
			if len(f.Paths) != 1 || f.Paths[0] != "spec.replicas" || len(f.Attribution) != 1 || f.Attribution[0].Manager != want {
				t.Errorf("%s: paths %v attribution %+v, want spec.replicas by %s", f.Address, f.Paths, f.Attribution, want)
			}
		}
		apply(t, seed)
		if r := g.must(); !r.Clean {
			t.Fatalf("after apply, want clean:\n%s", dumpReport(r))
		}
	})

	t.Run("SecretChangeRedacted", func(t *testing.T) {
		const canary = "postgresql://canary-5e1f:hunter2@db"
		patch(t, l, "kubectl-edit", "secrets", ns, "marketplace-db",
			`{"data":{"DATABASE_URL":"`+base64.StdEncoding.EncodeToString([]byte(canary))+`"}}`)
		r := g.must()
		if len(r.Findings) != 1 || r.Findings[0].Address != "kubernetes_secret.marketplace" || r.Findings[0].Class != events.ClassChanged ||
			r.Findings[0].Risk != events.RiskHigh {
			t.Fatalf("want one high-risk changed Secret:\n%s", dumpReport(r))
		}
		var all bytes.Buffer
		for _, f := range gate.Formats {
			_ = r.Write(&all, f)
		}
		for _, leak := range []string{canary, "hunter2", base64.StdEncoding.EncodeToString([]byte(canary)), "lab-only-password"} {
			if strings.Contains(all.String(), leak) {
				t.Fatalf("a secret value leaked into the gate's output: %q", leak)
			}
		}
		apply(t, seed)
	})

	t.Run("UnappliedConfigEditIsPendingConfig", func(t *testing.T) {
		setVars(t, seed.Dir, map[string]string{"namespace": `"` + ns + `"`, "marketplace_replicas": "3"})
		defer setVars(t, seed.Dir, vars)
		r := g.must()
		c := byClass(r)
		if len(r.Findings) != 1 || len(c[events.ClassPendingConfig]) != 1 || c[events.ClassPendingConfig][0].Address != "kubernetes_deployment.marketplace" {
			t.Fatalf("want one pending-config finding and no drift:\n%s", dumpReport(r))
		}
		if r.ExitCode() != gate.ExitDrift {
			t.Fatal("an unintended change must fail the gate")
		}
		r = g.must("kubernetes_deployment.marketplace")
		if !r.Clean || r.ExitCode() != gate.ExitClean || len(r.Allowed) != 1 {
			t.Fatalf("the intended change only: want clean:\n%s", dumpReport(r))
		}
	})

	t.Run("DeletedObject", func(t *testing.T) {
		ctx := context.Background()
		if err := l.Kube().CoreV1().ConfigMaps(ns).Delete(ctx, "marketplace-config", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		r := g.must()
		if len(r.Findings) != 1 || r.Findings[0].Class != events.ClassDeleted || r.Findings[0].Address != "kubernetes_config_map.marketplace" {
			t.Fatalf("want one deleted finding:\n%s", dumpReport(r))
		}
		apply(t, seed)
	})

	if bin == lab.Tofu {
		t.Run("LockHeldBySomeoneElse", func(t *testing.T) { testLockHeld(t, l, seed, g) })
	}

	t.Run("BrokenConfigIsAnError", func(t *testing.T) {
		broken := prepare(t, l, marketplaceSrc, bin, "gate/"+string(bin)+"/seed.tfstate", vars)
		if err := os.WriteFile(filepath.Join(broken.Dir, "broken.tf"), []byte("resource \"kubernetes_config_map\" \"x\" {\n  no_such_argument = 1\n  metadata { name = \"x\" }\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		bg := gateRun{t, l, workspaceConfig(l, "marketplace", broken.Dir, bin, ns), t.TempDir()}
		_, err := bg.run()
		if !errors.Is(err, tofu.ErrConfig) {
			t.Fatalf("want a config error (exit 1), got %v", err)
		}
	})
}

// testLockHeld holds the state lock the way another tofu run would (a
// .tflock object next to the state) and checks the gate still plans, and
// the lock is left exactly as it was.
func testLockHeld(t *testing.T, l *lab.Lab, w *lab.Workspace, g gateRun) {
	ctx := context.Background()
	c := l.S3.Client()
	key := w.Key + ".tflock"
	lock := `{"ID":"5a1c0b7e-0000-4000-8000-000000000001","Operation":"OperationTypeApply","Info":"","Who":"ci@runner-7","Version":"1.10.10","Created":"2026-11-21T10:00:00Z","Path":"` + l.S3.Bucket + "/" + w.Key + `"}`
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(key), Body: strings.NewReader(lock)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(key)})
	// A locking plan is refused: the lock is really held.
	if _, err := w.Plan(ctx); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("a plan that locks must fail while the lock is held, got %v", err)
	}
	r := g.must()
	if !r.Clean {
		t.Fatalf("the gate must plan despite the lock:\n%s", dumpReport(r))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the lock is gone: %v", err)
	}
	if aws.ToString(head.ETag) != aws.ToString(put.ETag) {
		t.Fatal("the lock object was rewritten")
	}
	got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	body, _ := io.ReadAll(got.Body)
	var info map[string]any
	if json.Unmarshal(body, &info) != nil || info["Who"] != "ci@runner-7" {
		t.Fatalf("lock content changed: %s", body)
	}
}
