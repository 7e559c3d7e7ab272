package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/importer"
)

// decider answers decisions the way the importer does: it takes only those
// signed with its token.
func decider(t *testing.T, env *eventstest.Env, token string) <-chan importer.Decision {
	t.Helper()
	got := make(chan importer.Decision, 10)
	sub, err := env.Conn.Subscribe(importer.DecideSubject, func(m *nats.Msg) {
		var d importer.Decision
		_ = json.Unmarshal(m.Data, &d)
		r := importer.DecisionReply{OK: true, Request: &importer.RequestRecord{ID: "ir-1", Workspace: "shop",
			Address: "kubernetes_deployment.web", ImportID: "shop/web", By: d.By, Status: importer.StatusApproved}}
		if err := d.Verify(token, time.Now()); err != nil {
			r = importer.DecisionReply{Error: "refused: " + err.Error()}
		} else {
			got <- d
		}
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return got
}

func decide(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestApproveAndReject(t *testing.T) {
	env := eventstest.Start(t)
	url := env.Server.ClientURL()
	got := decider(t, env, "s3cret")
	t.Setenv(importer.DefaultApproverEnv, "s3cret")
	t.Setenv(envApprover, "alice")

	out, errs, code := decide(t, "approve", "ir-1", "--reason", "diff reviewed", "--nats-url", url)
	if code != 0 || !strings.Contains(out, "approved ir-1") || !strings.Contains(out, "by alice") {
		t.Fatalf("approve: code %d out %q err %q", code, out, errs)
	}
	d := <-got
	if d.Verb != importer.VerbApprove || d.By != "alice" || d.Reason != "diff reviewed" || d.ID != "ir-1" {
		t.Errorf("decision %+v", d)
	}

	if _, errs, code := decide(t, "reject", "ir-1", "--nats-url", url); code != 1 || !strings.Contains(errs, "needs a reason") {
		t.Errorf("reject without a reason: code %d err %q", code, errs)
	}
	if out, errs, code := decide(t, "reject", "f-abc", "--reason", "owned by Argo CD", "--by", "bob", "--nats-url", url); code != 0 {
		t.Errorf("reject: code %d out %q err %q", code, out, errs)
	} else if d := <-got; d.Verb != importer.VerbReject || d.By != "bob" || d.ID != "f-abc" {
		t.Errorf("decision %+v", d)
	}
}

func TestApproveRefusedWithoutTheToken(t *testing.T) {
	env := eventstest.Start(t)
	url := env.Server.ClientURL()
	got := decider(t, env, "s3cret")

	t.Setenv(importer.DefaultApproverEnv, "")
	if _, errs, code := decide(t, "approve", "ir-1", "--nats-url", url); code != 1 || !strings.Contains(errs, importer.DefaultApproverEnv) {
		t.Errorf("no token: code %d err %q", code, errs)
	}
	t.Setenv(importer.DefaultApproverEnv, "guess")
	if _, errs, code := decide(t, "approve", "ir-1", "--nats-url", url); code != 1 || !strings.Contains(errs, "refused") {
		t.Errorf("wrong token: code %d err %q", code, errs)
	}
	select {
	case d := <-got:
		t.Errorf("a decision got through: %+v", d)
	default:
	}
	if _, errs, code := decide(t, "approve", "--nats-url", url); code != 1 || !strings.Contains(errs, "expected one request id") {
		t.Errorf("no id: code %d err %q", code, errs)
	}
}
