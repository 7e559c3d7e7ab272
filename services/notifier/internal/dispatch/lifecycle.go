package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/notifier/internal/route"
	"github.com/driftgate/driftgate/services/notifier/internal/sink"
)

// Marks are the notifier's durable memory in the State bucket, per sink:
//
//	notifier.<sink>.ev.<event id>   an event delivered (redelivery and replays are skipped)
//	notifier.<sink>.f.<finding id>  where a finding's lifecycle stands for this sink
//	notifier.<sink>.h.<condition>   where a health condition stands for this sink
//
// They are written after the sink accepted the alert and before the stream
// message is acked, so a crash in between repeats nothing.

type eventMark struct {
	At time.Time `json:"at"`
}

type findingMark struct {
	State       string         `json:"state"` // open | resolved
	Fingerprint string         `json:"fp"`
	EventID     string         `json:"event_id,omitempty"`
	AlertedAt   time.Time      `json:"alerted_at"`
	Finding     events.Finding `json:"finding"`
}

type healthMark struct {
	Status    string    `json:"status"`
	Severity  string    `json:"severity"`
	Problem   bool      `json:"problem"`
	EventID   string    `json:"event_id"`
	AlertedAt time.Time `json:"alerted_at"`
}

func (w *worker) evKey(id string) string { return events.Key("notifier", w.cfg.Name, "ev", id) }
func (w *worker) findingKey(id string) string {
	return events.Key("notifier", w.cfg.Name, "f", id)
}
func (w *worker) healthKey(d *events.ClusterHealth) string {
	return events.Key("notifier", w.cfg.Name, "h", d.Cluster, d.Component, d.Node, d.WS, d.Condition)
}

// EventMarkRetention is how long an event's delivery mark is kept. Past it,
// only a replay of the stream older than this could alert twice; the
// finding and health marks (bounded by the number of findings and
// conditions) still hold the lifecycle.
const EventMarkRetention = 30 * 24 * time.Hour

// sweepLoop deletes expired event marks of this sink now and then daily,
// while this replica serves the sink.
func (w *worker) sweepLoop(ctx context.Context) {
	for {
		if n, err := w.sweepEventMarks(ctx, w.now().Add(-EventMarkRetention)); err != nil && ctx.Err() == nil {
			w.log.Warn("sweep delivery marks", "err", err)
		} else if n > 0 {
			w.log.Info("swept expired delivery marks", "count", n)
		}
		if sleepCtx(ctx, 24*time.Hour) != nil {
			return
		}
	}
}

// sweepEventMarks deletes the event marks written before cutoff.
func (w *worker) sweepEventMarks(ctx context.Context, cutoff time.Time) (int, error) {
	kv := w.d.Buckets.State
	lister, err := kv.ListKeysFiltered(ctx, events.Key("notifier", w.cfg.Name, "ev")+".>")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("list delivery marks: %w", err)
	}
	var old []string
	for key := range lister.Keys() {
		var m eventMark
		if _, ok, err := events.GetJSON(ctx, kv, key, &m); err == nil && ok && m.At.Before(cutoff) {
			old = append(old, key)
		}
	}
	for _, key := range old {
		if err := kv.Purge(ctx, key); err != nil {
			return 0, fmt.Errorf("purge delivery mark: %w", err)
		}
	}
	return len(old), nil
}

// markWrite is a mark an alert writes once delivered.
type markWrite struct {
	key   string
	value any
}

// pendingMark is the mark a queued, undelivered alert will write: decisions
// about later events see it before the KV does.
type pendingMark struct {
	value any
	item  *item
}

// fingerprint is what makes a change to an open finding material, as the
// planner judges it (pkg/findings.Material): risk, recommended
// action, import id, the object's identity, the changed paths and the set of
// field managers. A planner that republishes an unchanged finding (a restart,
// a second replica) does not alert again.
func fingerprint(f *events.Finding) string {
	p := slices.Clone(f.Paths)
	slices.Sort(p)
	var mgrs []string
	for _, a := range f.Attribution {
		mgrs = append(mgrs, a.Manager+"/"+a.Operation)
	}
	slices.Sort(mgrs)
	mgrs = slices.Compact(mgrs)
	parts := []string{f.Risk, f.RecommendedAction, f.ImportID, f.Object.UID, f.Object.Namespace, f.Object.Name,
		strings.Join(p, "\x01"), strings.Join(mgrs, "\x01")}
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

func (w *worker) getMark(ctx context.Context, key string, v any) (bool, error) {
	if p, ok := w.pending[key]; ok {
		b, _ := json.Marshal(p.value)
		return true, json.Unmarshal(b, v)
	}
	if err := w.fault(key); err != nil {
		return false, err
	}
	_, ok, err := events.GetJSON(ctx, w.d.Buckets.State, key, v)
	return ok, err
}

func (w *worker) fault(key string) error {
	if w.o.readFault == nil {
		return nil
	}
	return w.o.readFault(key)
}

func (w *worker) delivered(ctx context.Context, eventID string) (bool, error) {
	if err := w.fault(w.evKey(eventID)); err != nil {
		return false, fmt.Errorf("read delivery mark: %w", err)
	}
	_, err := w.d.Buckets.State.Get(ctx, w.evKey(eventID))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	}
	return false, fmt.Errorf("read delivery mark: %w", err)
}

// decision is what to do with an event that a route sends to this sink.
type decision struct {
	note  string // "" : skip, nothing new to tell
	marks []markWrite
}

// decide applies "once per lifecycle": one alert when a finding opens or
// changes materially, one when it resolves; one when a health problem starts
// or worsens, one when it ends.
func (w *worker) decide(ctx context.Context, e string, d events.Data, m route.Match) (decision, error) {
	now := w.now()
	switch d := d.(type) {
	case *events.DriftDetected:
		key := w.findingKey(d.Finding.ID)
		var prev findingMark
		ok, err := w.getMark(ctx, key, &prev)
		if err != nil {
			return decision{}, err
		}
		fp := fingerprint(&d.Finding)
		note := sink.NoteOpened
		switch {
		case ok && prev.State == events.StateOpen && prev.Fingerprint == fp:
			return decision{}, nil
		case ok && prev.State == events.StateOpen:
			note = sink.NoteChanged
		}
		return decision{note: note, marks: []markWrite{{key, findingMark{State: events.StateOpen, Fingerprint: fp, EventID: e, AlertedAt: now, Finding: d.Finding}}}}, nil
	case *events.DriftResolved:
		key := w.findingKey(d.Finding.ID)
		var prev findingMark
		ok, err := w.getMark(ctx, key, &prev)
		if err != nil {
			return decision{}, err
		}
		if ok && prev.State == events.StateResolved {
			return decision{}, nil
		}
		return decision{note: sink.NoteResolved, marks: []markWrite{{key, findingMark{State: events.StateResolved, Fingerprint: fingerprint(&d.Finding), EventID: e, AlertedAt: now, Finding: d.Finding}}}}, nil
	case *events.ClusterHealth:
		key := w.healthKey(d)
		var prev healthMark
		ok, err := w.getMark(ctx, key, &prev)
		if err != nil {
			return decision{}, err
		}
		problem := d.Severity == events.SeverityWarning || d.Severity == events.SeverityCritical
		next := healthMark{Status: d.Status, Severity: d.Severity, Problem: problem, EventID: e, AlertedAt: now}
		mark := []markWrite{{key, next}}
		switch {
		case problem && m != route.Full:
			return decision{}, nil
		case problem && ok && prev.Problem && prev.Status == d.Status && prev.Severity == d.Severity:
			return decision{}, nil // the same problem again
		case problem:
			return decision{note: sink.NoteRaised, marks: mark}, nil
		case ok && prev.Problem && prev.Status != d.Status:
			return decision{note: sink.NoteRecovered, marks: mark}, nil
		case m == route.Full && !(ok && !prev.Problem && prev.Status == d.Status):
			return decision{note: sink.NoteRaised, marks: mark}, nil
		}
		return decision{}, nil
	}
	if m != route.Full {
		return decision{}, nil
	}
	return decision{note: sink.NoteEvent}, nil
}

// writeMarks stores an alert's marks. They keep a redelivery from alerting
// twice, and every later event of the finding is decided against them: a
// mark left behind the alert the sink got would make a change back to the
// mark's content read as nothing new (the fault suite lost an alert that
// way while a bucket had no quorum). So it retries until the mark is
// written, holding this sink's next decisions, and gives up only when the
// worker stops (the event is then redelivered and may alert again).
func (w *worker) writeMarks(ctx context.Context, it *item) {
	stop := ctx.Done()
	ctx = context.WithoutCancel(ctx)
	now := w.now()
	writes := slices.Clone(it.marks)
	for _, id := range it.alert.EventIDs() {
		writes = append(writes, markWrite{w.evKey(id), eventMark{At: now}})
	}
	for _, m := range writes {
		for attempt := 0; ; attempt++ {
			err := w.writeMark(ctx, m)
			if err == nil {
				if attempt >= 5 {
					w.log.Info("delivery mark written", "key", m.key, "attempts", attempt+1)
				}
				break
			}
			if attempt == 4 {
				w.log.Warn("delivery mark not written yet; this sink's next alerts wait for it", "key", m.key, "err", err)
			}
			select {
			case <-stop:
				w.log.Error("delivery mark not written; a redelivery of this event may alert again", "key", m.key, "err", err)
				return
			case <-time.After(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second)):
			}
		}
	}
}

func (w *worker) writeMark(ctx context.Context, m markWrite) error {
	if w.o.writeFault != nil {
		if err := w.o.writeFault(m.key); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := events.PutJSON(wctx, w.d.Buckets.State, m.key, m.value)
	return err
}

// redact removes what must never leave driftgate even if an upstream missed
// it: a Secret's excerpt values and the plan lines of a Secret's import.
// It reports whether it changed d.
func redact(d events.Data) bool {
	isSecret := func(o events.ObjectRef) bool { return o.Kind == "Secret" && o.Group == "" }
	switch d := d.(type) {
	case *events.DriftDetected:
		if !isSecret(d.Finding.Object) || (len(d.Excerpt.Before) == 0 && len(d.Excerpt.After) == 0) {
			return false
		}
		d.Excerpt.Before = redactValues(d.Excerpt.Before)
		d.Excerpt.After = redactValues(d.Excerpt.After)
		return true
	case *events.Import:
		if !isSecret(d.Object) || len(d.Diff) == 0 {
			return false
		}
		d.Diff = []string{fmt.Sprintf("(%d plan lines of a Secret redacted)", len(d.Diff))}
		return true
	}
	return false
}

const redacted = "(redacted)"

func redactValues(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = redacted
	}
	return out
}
