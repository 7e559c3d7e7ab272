package importer

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

// policyConfig has one workspace per approval policy. Its dirs do not
// exist: these tests stop before anything is imported.
func policyConfig(t *testing.T) *config.File {
	t.Helper()
	var b strings.Builder
	b.WriteString("clusters:\n  - name: lab\n    kubeconfig: /nonexistent\nworkspaces:\n")
	for _, p := range []string{config.ApprovalManual, config.ApprovalAuto, config.ApprovalAutoLowRisk} {
		fmt.Fprintf(&b, "  - name: ws-%s\n    cluster: lab\n    dir: .\n    backend_config: {bucket: b, key: %s.tfstate}\n    import: {approval: %s}\n", p, p, p)
	}
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "driftgate.yaml"), []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestPolicies(t *testing.T) {
	js := eventstest.Start(t)
	cfg := policyConfig(t)
	p := startService(t, js, cfg, Env{Getenv: func(k string) string {
		if k == DefaultApproverEnv {
			return "tok"
		}
		return ""
	}}, t.TempDir(), hooks{})
	defer p.stop(t)
	ctx := context.Background()
	obj := func(name string) events.ObjectRef {
		return events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: "u-" + name}
	}
	type want struct {
		status, by string
	}
	cases := []struct {
		ws, addr, risk string
		want           want
	}{
		{"ws-manual", "kubernetes_config_map.a", events.RiskLow, want{StatusPending, ""}},
		{"ws-auto", "kubernetes_config_map.b", events.RiskHigh, want{StatusApproved, "policy:auto"}},
		{"ws-auto-low-risk", "kubernetes_config_map.c", events.RiskLow, want{StatusApproved, "policy:auto-low-risk"}},
		{"ws-auto-low-risk", "kubernetes_config_map.d", events.RiskHigh, want{StatusPending, ""}},
	}
	for _, c := range cases {
		name := strings.TrimPrefix(c.addr, "kubernetes_config_map.")
		f := unimported(t, js, c.ws, c.addr, "shop/"+name, obj(name), c.risk, 7)
		// The executor cannot open these workspaces; an approved request
		// stays approved (or running, while it tries).
		r := waitRequest(t, p, c.ws, f.ID, 30*time.Second, c.want.status, StatusRunning)
		if r.Status == StatusRunning {
			r.Status = StatusApproved
		}
		if r.Status != c.want.status || r.By != c.want.by || r.StateSerial != 7 || r.Policy == "" {
			t.Errorf("%s %s: %+v, want %+v", c.ws, c.addr, r, c.want)
		}
		if !strings.HasPrefix(r.ID, "ir-") {
			t.Errorf("request id %q", r.ID)
		}
	}

	// The same finding published again is the same request.
	f := unimported(t, js, "ws-manual", "kubernetes_config_map.a", "shop/a", obj("a"), events.RiskLow, 7)
	js.WaitConsumed(t, "importer", 30*time.Second)
	recs, err := p.svc.reqs.list(ctx, "ws-manual")
	if err != nil || len(recs) != 1 {
		t.Fatalf("requests of ws-manual: %d %v", len(recs), err)
	}

	// A rejection needs the token and a reason, names who and why, and is
	// final.
	rej := Decision{ID: f.ID, Verb: VerbReject, By: "bob", Reason: "owned by Argo CD"}
	rej.Sign("tok", time.Now())
	r, err := Decide(ctx, js.Conn, rej)
	if err != nil || !r.OK || r.Request.Status != StatusRejected {
		t.Fatalf("reject: %+v %v", r, err)
	}
	app := Decision{ID: r.Request.ID, Verb: VerbApprove, By: "alice"}
	app.Sign("tok", time.Now())
	if r, err := Decide(ctx, js.Conn, app); err != nil || r.OK || !strings.Contains(r.Error, "rejected") {
		t.Errorf("approve after reject: %+v %v", r, err)
	}
	es := importEvents(t, js, recs[0].ID)
	if got := verbs(es); got != "requested,rejected" {
		t.Errorf("events %s", got)
	}
	for _, e := range es {
		if e.Verb() == events.ImportRejected && (e.By != "bob" || e.Reason != "owned by Argo CD") {
			t.Errorf("rejected by %q: %q", e.By, e.Reason)
		}
	}
	if r, err := Decide(ctx, js.Conn, func() Decision {
		d := Decision{ID: "ir-nope", Verb: VerbApprove, By: "alice"}
		d.Sign("tok", time.Now())
		return d
	}()); err != nil || r.OK || !strings.Contains(r.Error, "no import request") {
		t.Errorf("unknown id: %+v %v", r, err)
	}
}
