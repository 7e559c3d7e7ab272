package chaos

import (
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

// TestAlertsDue: a finding owes one alert per opening, material change and
// resolution; an unchanged re-announcement (a plan at a new state serial)
// is carried by the alert already due; every import event is an alert.
func TestAlertsDue(t *testing.T) {
	f := events.Finding{ID: "f-1", Workspace: wsName, Address: "kubernetes_config_map.marketplace", Class: events.ClassUnimported,
		Risk: events.RiskLow, Paths: []string{"data"}}
	changed := f
	changed.Paths = []string{"data", "metadata.labels"}
	at := time.Unix(0, 0)
	rec := func(id string, d events.Data) Record {
		at = at.Add(time.Second)
		return Record{At: at, ID: id, Data: d}
	}
	recs := []Record{
		rec("e1", &events.DriftDetected{Finding: f}),
		rec("e2", &events.DriftDetected{Finding: f}), // re-announced at a new serial
		rec("e3", &events.DriftDetected{Finding: changed}),
		rec("e4", &events.Import{WS: wsName, FindingID: f.ID}),
		rec("e5", &events.DriftResolved{Finding: f}),
		rec("e6", &events.DriftResolved{Finding: f}), // a second replica's
		rec("e7", &events.DriftDetected{Finding: f}), // opened again
		rec("e8", &events.ObjectChanged{}),           // not routed
	}
	got := alertsDue(recs)
	want := [][]string{{"e1", "e2"}, {"e3"}, {"e4"}, {"e5", "e6"}, {"e7"}}
	if len(got) != len(want) {
		t.Fatalf("got %d alerts due, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if len(got[i].IDs) != len(w) {
			t.Fatalf("alert %d (%s): events %v, want %v", i, got[i].What, got[i].IDs, w)
		}
		for j := range w {
			if got[i].IDs[j] != w[j] {
				t.Fatalf("alert %d (%s): events %v, want %v", i, got[i].What, got[i].IDs, w)
			}
		}
	}
	hook := &Receiver{deliv: map[string]int{"e1": 1, "e2": 1, "e5": 1}}
	if n := got[0].delivered(hook); n != 2 {
		t.Errorf("opening delivered %d times, want 2 (a duplicate alert)", n)
	}
	if n := got[1].delivered(hook); n != 0 {
		t.Errorf("change delivered %d times, want 0 (lost)", n)
	}
}
