package tofu_test

import (
	"os"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
)

// TestAtSerial: a state written forward keeps everything but its serial.
func TestAtSerial(t *testing.T) {
	body, err := os.ReadFile("../../testdata/helm-1.3.2/state.json") // a state the real tool wrote
	if err != nil {
		t.Fatal(err)
	}
	m, err := tofu.ParseMeta(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tofu.AtSerial(body, m.Serial+5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tofu.ParseMeta(out)
	if err != nil || got.Serial != m.Serial+5 || got.Lineage != m.Lineage {
		t.Fatalf("meta %+v %v, want serial %d lineage %s", got, err, m.Serial+5, m.Lineage)
	}
	if !tofu.SameContent(body, out) {
		t.Error("content changed beyond the serial")
	}
	if tofu.SameContent(body, []byte(`{"version":4,"serial":1,"lineage":"other"}`)) {
		t.Error("another lineage reads as the same content")
	}
	if _, err := tofu.AtSerial([]byte(`{"version":4}`), 2); err == nil {
		t.Error("a body without a serial was accepted")
	}
}
