package events_test

import (
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/events"
)

// TestReadEntryRefusesWhatIsNotAFact: every event type reads as itself
// under its own subject; under another subject (what a user allowed to
// publish there could plant) or with a header type that is not its
// envelope's, it is "invalid", its body withheld, and a workspace or
// object filter leaves it out (counted as skipped). The CLI's audit and
// the console's audit page, timelines and live stream all read through it.
func TestReadEntryRefusesWhatIsNotAFact(t *testing.T) {
	for _, d := range samples() {
		t.Run(d.EventType(), func(t *testing.T) {
			e, err := events.New("test", d)
			if err != nil {
				t.Fatal(err)
			}
			body, err := e.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			h := map[string][]string{events.HeaderType: {d.EventType()}, events.HeaderWorkspace: {d.Workspace()}}
			own := events.NATSSubject(d)

			got, match, invalid := events.ReadEntry(events.ReplayFilter{}, own, h, body, 1, t0)
			if !match || invalid || got.Type != d.EventType() || got.Data == nil || len(got.Body) == 0 {
				t.Fatalf("under its own subject %s: match %v invalid %v entry %+v", own, match, invalid, got)
			}

			other := events.TypeSubject(d.EventType()) + ".elsewhere.x"
			got, match, invalid = events.ReadEntry(events.ReplayFilter{}, other, h, body, 2, t0)
			if !match || invalid || got.Type != "invalid" || got.Data != nil || got.Body != nil ||
				!strings.Contains(got.Reason, "stored under "+other+", but the event belongs under "+own) {
				t.Fatalf("under %s: match %v invalid %v entry %+v", other, match, invalid, got)
			}
			if _, match, invalid = events.ReadEntry(events.ReplayFilter{Workspace: "marketplace"}, other, h, body, 2, t0); match || !invalid {
				t.Errorf("under %s with a workspace filter: match %v invalid %v, want left out and counted", other, match, invalid)
			}
			if _, match, _ = events.ReadEntry(events.ReplayFilter{TypePrefix: events.NormaliseType("invalid")}, other, h, body, 2, t0); !match {
				t.Errorf("under %s: --type invalid does not show it", other)
			}

			wrong := map[string][]string{events.HeaderType: {events.TypeObjectChanged}}
			if d.EventType() == events.TypeObjectChanged {
				wrong[events.HeaderType] = []string{events.TypeDriftDetected}
			}
			got, match, _ = events.ReadEntry(events.ReplayFilter{}, own, wrong, body, 3, t0)
			if !match || got.Type != "invalid" || got.Body != nil || !strings.Contains(got.Reason, "does not match the envelope's") {
				t.Errorf("header type mismatch: match %v entry %+v", match, got)
			}
		})
	}
}
