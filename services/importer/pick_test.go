package importer

import (
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

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
