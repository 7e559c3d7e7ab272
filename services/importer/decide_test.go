package importer

import (
	"errors"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

func TestDecisionSignature(t *testing.T) {
	now := time.Now()
	d := Decision{ID: "ir-1", Verb: VerbApprove, By: "alice", Reason: "checked the diff"}
	d.Sign("s3cret", now)
	if err := d.Verify("s3cret", now); err != nil {
		t.Fatalf("a signed decision: %v", err)
	}
	for name, c := range map[string]struct {
		mutate func(*Decision)
		token  string
		at     time.Time
	}{
		"no token configured": {token: "", at: now},
		"wrong token":         {token: "guess", at: now},
		"unsigned":            {mutate: func(d *Decision) { d.Signature = "" }, token: "s3cret", at: now},
		"tampered verb":       {mutate: func(d *Decision) { d.Verb = VerbReject }, token: "s3cret", at: now},
		"tampered id":         {mutate: func(d *Decision) { d.ID = "ir-2" }, token: "s3cret", at: now},
		"tampered by":         {mutate: func(d *Decision) { d.By = "mallory" }, token: "s3cret", at: now},
		"too old":             {token: "s3cret", at: now.Add(MaxDecisionSkew + time.Minute)},
	} {
		x := d
		if c.mutate != nil {
			c.mutate(&x)
		}
		if err := x.Verify(c.token, c.at); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", name, err)
		}
	}
}

func TestDecisionValidate(t *testing.T) {
	for _, c := range []struct {
		d  Decision
		ok bool
	}{
		{Decision{ID: "ir-1", Verb: VerbApprove, By: "a"}, true},
		{Decision{ID: "ir-1", Verb: VerbReject, By: "a"}, false},
		{Decision{ID: "ir-1", Verb: VerbReject, By: "a", Reason: "no"}, true},
		{Decision{ID: "", Verb: VerbApprove, By: "a"}, false},
		{Decision{ID: "ir-1", Verb: "force", By: "a"}, false},
		{Decision{ID: "ir-1", Verb: VerbApprove}, false},
	} {
		if err := c.d.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.d, err)
		}
	}
}

func TestPickHighRiskFirstAndAlone(t *testing.T) {
	t0 := time.Now()
	r := func(id, status, risk string, age int) *RequestRecord {
		return &RequestRecord{ID: id, Status: status, Risk: risk, CreatedAt: t0.Add(time.Duration(age) * time.Second)}
	}
	for _, c := range []struct {
		name string
		recs []*RequestRecord
		want string
		wait bool
	}{
		{"nothing approved", []*RequestRecord{r("a", StatusPending, events.RiskLow, 0)}, "", false},
		{"oldest first", []*RequestRecord{r("b", StatusApproved, events.RiskLow, 2), r("a", StatusApproved, events.RiskLow, 1)}, "a", false},
		{"high risk first", []*RequestRecord{r("a", StatusApproved, events.RiskLow, 1), r("db", StatusApproved, events.RiskHigh, 5)}, "db", false},
		{"low waits for an undecided high", []*RequestRecord{r("a", StatusApproved, events.RiskLow, 1), r("db", StatusPending, events.RiskHigh, 5)}, "", true},
		{"rejected high does not block", []*RequestRecord{r("a", StatusApproved, events.RiskLow, 1), r("db", StatusRejected, events.RiskHigh, 5)}, "a", false},
		{"the stateful one before a Secret", []*RequestRecord{
			{ID: "secret", Status: StatusApproved, Risk: events.RiskHigh, CreatedAt: t0, Object: events.ObjectRef{Version: "v1", Kind: "Secret"}},
			{ID: "db", Status: StatusApproved, Risk: events.RiskHigh, CreatedAt: t0.Add(time.Second), Object: events.ObjectRef{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster"}},
		}, "db", false},
		{"an interrupted one resumes", []*RequestRecord{r("a", StatusApproved, events.RiskLow, 1), r("b", StatusRunning, events.RiskLow, 0)}, "b", false},
	} {
		got, why := pick(c.recs)
		id := ""
		if got != nil {
			id = got.ID
		}
		if id != c.want || (why != "") != c.wait {
			t.Errorf("%s: picked %q (%q), want %q wait=%v", c.name, id, why, c.want, c.wait)
		}
	}
}
