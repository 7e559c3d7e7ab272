package importer

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

// lastSeq is the stream's last sequence: what a test wrote after it is newer.
func lastSeq(t *testing.T, js *eventstest.Env) uint64 {
	t.Helper()
	s, err := js.JS.Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// waitJournalRefused waits for a cluster.health ImportJournalRefused of
// workspace ws after stream sequence after whose message says want.
func waitJournalRefused(t *testing.T, js *eventstest.Env, after uint64, ws, want string) *events.ClusterHealth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := js.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.TypeSubject(events.TypeClusterHealth) + ".>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy, OptStartSeq: after + 1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no ImportJournalRefused of %s saying %q within a minute: %v", ws, want, err)
		}
		_, d, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if h := d.(*events.ClusterHealth); h.Condition == "ImportJournalRefused" && h.WS == ws && strings.Contains(h.Message, want) {
			return h
		}
	}
}

// TestForgedJournalIsRefused: the import journal and the serial moves
// decide what recovery keeps or rolls back, so one the importer did not
// seal — written plain with `nats kv put`, sealed with a guessed token, or a
// genuine one copied from another workspace — is not recovered: it is set
// aside, reported (cluster.health ImportJournalRefused, critical) and
// nothing is carried out on its word. A journal the importer sealed is
// recovered.
func TestForgedJournalIsRefused(t *testing.T) {
	js := eventstest.Start(t)
	x := newRecorder()
	p := startService(t, js, policyConfig(t), tokenEnv(), t.TempDir(), x.hooks(t, js))
	defer p.stop(t)
	ctx := context.Background()
	kv := js.Buckets.State

	entry := func(ws, id string) *execute.Entry {
		return &execute.Entry{
			Request: execute.Request{ID: id, Workspace: ws, Address: "kubernetes_config_map.x", ImportID: "shop/x",
				Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "x", UID: "u-x"},
				Risk:   events.RiskLow, StateSerial: 7},
			Step: execute.StepImport, Before: tofu.Version{Exists: true, ID: "v-earlier", Serial: 3}, Holder: "mallory",
			StartedAt: time.Now().UTC(),
		}
	}
	// noRecovery: recovery of the forged entry would have ended in an
	// import.* event for its request; the refusal was reported first, and
	// the journal is gone, so none can come from it.
	refused := func(t *testing.T, after uint64, ws, what, id string, forged []byte, want string) {
		t.Helper()
		h := waitJournalRefused(t, js, after, ws, "import "+what+" of workspace "+ws+" is refused: not sealed by this importer: "+want)
		if h.Severity != events.SeverityCritical || h.Status != "True" || h.Reason != "UnverifiedJournal" {
			t.Errorf("report %+v", h)
		}
		key := events.Key("importer", what, ws)
		if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("%s still in place after the refusal: %v", key, err)
		}
		aside, err := kv.Get(ctx, events.Key("importer", "refused", what, ws))
		if err != nil || string(aside.Value()) != string(forged) {
			t.Errorf("the refused %s is not kept for review as written: %v", what, err)
		}
		if id != "" {
			if es := importEvents(t, js, id); len(es) != 0 {
				t.Errorf("the forged journal was acted on: %s", verbs(es))
			}
		}
	}

	t.Run("plain entry written with nats kv put", func(t *testing.T) {
		seq := lastSeq(t, js)
		b, _ := json.Marshal(entry("ws-manual", "ir-forged-plain"))
		if _, err := kv.Put(ctx, journalKey("ws-manual"), b); err != nil {
			t.Fatal(err)
		}
		refused(t, seq, "ws-manual", "journal", "ir-forged-plain", b, "not a sealed record")
	})

	t.Run("sealed with a guessed token", func(t *testing.T) {
		seq := lastSeq(t, js)
		if err := (kvJournal{kv: kv, ws: "ws-manual", token: "guess"}).Save(ctx, entry("ws-manual", "ir-forged-guess")); err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, journalKey("ws-manual"))
		if err != nil {
			// Already refused and set aside: read it there.
			if e, err = kv.Get(ctx, events.Key("importer", "refused", "journal", "ws-manual")); err != nil {
				t.Fatal(err)
			}
		}
		refused(t, seq, "ws-manual", "journal", "ir-forged-guess", e.Value(), "seal mismatch")
	})

	t.Run("a genuine journal copied from another workspace", func(t *testing.T) {
		seq := lastSeq(t, js)
		genuine := kvJournal{kv: kv, ws: "ws-auto", token: testToken}
		b, _ := json.Marshal(entry("ws-auto", "ir-copied"))
		raw := []byte(`{"record":` + string(b) + `,"seal":"` + hexSeal(journalSealVersion, journalKey(genuine.ws), b) + `"}`)
		var probe execute.Entry
		if err := verifySealed(raw, testToken, journalSealVersion, journalKey("ws-auto"), &probe); err != nil {
			t.Fatalf("the genuine record does not verify where it was sealed: %v", err)
		}
		if _, err := kv.Put(ctx, journalKey("ws-auto-low-risk"), raw); err != nil {
			t.Fatal(err)
		}
		refused(t, seq, "ws-auto-low-risk", "journal", "ir-copied", raw, "seal mismatch")
	})

	t.Run("forged serial moves", func(t *testing.T) {
		seq := lastSeq(t, js)
		b := []byte(`{"7":42}`)
		if _, err := kv.Put(ctx, movesKey("ws-manual"), b); err != nil {
			t.Fatal(err)
		}
		// Moves are judged when the workspace has work: give it some.
		if _, err := kv.Put(ctx, journalKey("ws-manual"), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		refused(t, seq, "ws-manual", "moves", "", b, "not a sealed record")
	})

	t.Run("a journal the importer sealed is recovered", func(t *testing.T) {
		ent := entry("ws-auto", "ir-genuine")
		ent.Before = tofu.Version{} // the state was absent, and still is: nothing to roll back
		if err := (kvJournal{kv: kv, ws: "ws-auto", token: testToken}).Save(ctx, ent); err != nil {
			t.Fatal(err)
		}
		e := waitImportEvent(t, js, "ir-genuine", time.Minute, events.ImportFailed, events.ImportSucceeded, events.ImportRolledBack)
		if e.Step != execute.StepRecover || !strings.Contains(e.Reason, "nothing to roll back") {
			t.Errorf("recovery: import.%s at %s: %s", e.Verb(), e.Step, e.Reason)
		}
	})
}

// hexSeal is the seal the importer with testToken puts on raw under key.
func hexSeal(version, key string, raw []byte) string {
	return hex.EncodeToString(recordSeal(testToken, version, key, raw))
}
