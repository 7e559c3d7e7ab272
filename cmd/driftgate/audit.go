package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

func init() {
	register("audit", "replay the event stream: the audit trail, filtered, as a timeline or JSON", runAudit)
}

// auditFilter selects events from the stream.
type auditFilter struct {
	since, until time.Time
	typePrefix   string // normalised to dev.driftgate.…
	workspace    string
	object       string
}

func runAudit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("driftgate audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	since := fs.String("since", "", "start: a duration ago (24h) or an RFC 3339 time")
	until := fs.String("until", "", "end: a duration ago or an RFC 3339 time (default: now)")
	typ := fs.String("type", "", "event type prefix: drift, import.approved, dev.driftgate.object.changed.v1, deadletter, invalid")
	ws := fs.String("workspace", "", "only events of this workspace")
	obj := fs.String("object", "", "only events about this object or address (suffix of the subject: shop/marketplace, Deployment/shop/marketplace)")
	out := fs.String("o", "table", "output: table, json or jsonl")
	natsURL := fs.String("nats-url", "", "NATS server (default $DRIFTGATE_NATS_URL, then nats://127.0.0.1:4222)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fail := failer(stderr, "audit")
	now := time.Now()
	f := auditFilter{workspace: *ws, object: *obj, typePrefix: normaliseType(*typ)}
	var err error
	if f.since, err = parseWhen(*since, now); err != nil {
		return fail(fmt.Errorf("--since: %w", err))
	}
	if f.until, err = parseWhen(*until, now); err != nil {
		return fail(fmt.Errorf("--until: %w", err))
	}
	if !f.since.IsZero() && !f.until.IsZero() && f.until.Before(f.since) {
		return fail(errors.New("--until is before --since"))
	}
	w, err := newAuditWriter(*out, stdout)
	if err != nil {
		return fail(err)
	}
	nc, js, err := connectCLI(*natsURL)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	defer cancel()
	if err := replay(ctx, js, f, w); err != nil {
		return fail(err)
	}
	if err := w.close(); err != nil {
		return fail(err)
	}
	if w.skipped > 0 {
		fmt.Fprintf(stderr, "driftgate audit: %d messages in the stream are not valid events; left out by the filters (--type invalid shows them)\n", w.skipped)
	}
	return 0
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q is negative", s)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor an RFC 3339 time (2026-11-23T10:00:00Z)", s)
	}
	return t, nil
}

// normaliseType turns "import", "drift.detected" into "dev.driftgate.import",
// "dev.driftgate.drift.detected"; "deadletter" and "invalid" stay as they are.
func normaliseType(p string) string {
	p = strings.TrimSuffix(strings.TrimSuffix(p, "*"), ".")
	if p == "" || p == "deadletter" || p == "invalid" || strings.HasPrefix(p, "dev.") || strings.HasPrefix("dev.driftgate", p) {
		return p
	}
	return "dev.driftgate." + p
}

// replay streams the matching events to w in stream order, holding only one
// batch in memory, and stops at the stream's end as it was when it started.
func replay(ctx context.Context, js jetstream.JetStream, f auditFilter, w *auditWriter) error {
	s, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.StreamName, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", events.StreamName, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	subject := events.StreamSubjects
	switch {
	case f.typePrefix == "deadletter":
		subject = events.DeadLetterRoot + ".>"
	case f.typePrefix != "":
		if s := events.SubjectFilter(f.typePrefix); s != "" {
			subject = s
		}
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if !f.since.IsZero() {
		cfg.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		st := f.since
		cfg.OptStartTime = &st
	}
	cons, err := js.OrderedConsumer(ctx, events.StreamName, cfg)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if ci.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if !f.until.IsZero() && md.Timestamp.After(f.until) {
			return nil
		}
		if err := w.write(f, m, md); err != nil {
			return err
		}
		if md.NumPending == 0 || md.Sequence.Stream >= last {
			return nil
		}
	}
}

// auditWriter prints events as they come, never holding the stream.
type auditWriter struct {
	format  string
	w       *bufio.Writer
	n       int
	skipped int // messages that are not valid events, left out by a filter
}

func newAuditWriter(format string, out io.Writer) (*auditWriter, error) {
	switch format {
	case "table", "json", "jsonl":
	default:
		return nil, fmt.Errorf("-o %q is not table, json or jsonl", format)
	}
	w := &auditWriter{format: format, w: bufio.NewWriterSize(out, 64<<10)}
	if format == "table" {
		fmt.Fprintf(w.w, "%-20s  %-20s  %-48s  %s\n", "TIME", "TYPE", "SUBJECT", "SUMMARY")
	}
	return w, nil
}

func (w *auditWriter) write(f auditFilter, m jetstream.Msg, md *jetstream.MsgMetadata) error {
	h := m.Headers()
	typ := h.Get(events.HeaderType)
	var subject, summary string
	var raw json.RawMessage
	switch {
	case strings.HasPrefix(m.Subject(), events.DeadLetterRoot+"."):
		typ = "deadletter"
		if !matchType(f, typ) || (f.workspace != "" && h.Get(events.HeaderWorkspace) != f.workspace) {
			return nil
		}
		subject = h.Get(events.HeaderOrigSubj)
		summary = "dead-lettered by " + h.Get(events.HeaderConsumer) + ": " + h.Get(events.HeaderReason)
		raw = w.record(map[string]any{"type": "deadletter", "time": md.Timestamp, "sequence": md.Sequence.Stream,
			"consumer": h.Get(events.HeaderConsumer), "reason": h.Get(events.HeaderReason), "original_subject": subject})
	default:
		e, d, err := events.Decode(m.Data())
		if err == nil && typ != e.Type() {
			err = fmt.Errorf("header type %q does not match the envelope's %q", typ, e.Type())
		}
		// An event is stored under the one subject its content names, and
		// the per-service users of deploy/nats/accounts.conf may publish
		// only their own subjects: one stored elsewhere is not a fact.
		if err == nil && m.Subject() != events.NATSSubject(d) {
			err = fmt.Errorf("stored under %s, but the event belongs under %s", m.Subject(), events.NATSSubject(d))
		}
		if err != nil {
			// A message that is not a valid event is never printed as one:
			// its body is withheld, only where it was and why it is not a fact.
			if !matchType(f, "invalid") || f.workspace != "" || f.object != "" {
				w.skipped++
				return nil
			}
			typ, subject, summary = "invalid", m.Subject(), "not a valid event: "+err.Error()
			raw = w.record(map[string]any{"type": "invalid", "time": md.Timestamp, "sequence": md.Sequence.Stream,
				"subject": subject, "reason": err.Error()})
			break
		}
		if !matchType(f, typ) || (f.workspace != "" && h.Get(events.HeaderWorkspace) != f.workspace) {
			return nil
		}
		subject, summary = e.Subject(), d.Summary()
		if f.object != "" && !matchObject(f.object, subject, d) {
			return nil
		}
		if w.format != "table" {
			var b bytes.Buffer
			if err := json.Compact(&b, m.Data()); err != nil {
				return fmt.Errorf("replay: sequence %d: %w", md.Sequence.Stream, err)
			}
			raw = b.Bytes()
		}
	}
	w.n++
	switch w.format {
	case "table":
		short := strings.TrimSuffix(strings.TrimPrefix(typ, "dev.driftgate."), ".v1")
		_, err := fmt.Fprintf(w.w, "%-20s  %-20s  %-48s  %s\n", md.Timestamp.Local().Format("2006-01-02 15:04:05"), short, subject, oneLine(summary))
		return err
	case "jsonl":
		_, err := fmt.Fprintf(w.w, "%s\n", raw)
		return err
	default:
		sep := ",\n"
		if w.n == 1 {
			sep = "[\n"
		}
		_, err := fmt.Fprintf(w.w, "%s%s", sep, raw)
		return err
	}
}

// matchType: no --type, or the type starts with it.
func matchType(f auditFilter, typ string) bool {
	return f.typePrefix == "" || strings.HasPrefix(typ, f.typePrefix)
}

// record encodes a line of audit's own (dead letters, invalid messages); only
// the JSON formats need it.
func (w *auditWriter) record(v map[string]any) json.RawMessage {
	if w.format == "table" {
		return nil
	}
	b, _ := json.Marshal(v) // maps of strings, times and numbers always encode
	return b
}

func (w *auditWriter) close() error {
	if w.format == "json" {
		if w.n == 0 {
			fmt.Fprint(w.w, "[")
		}
		fmt.Fprint(w.w, "\n]\n")
	}
	return w.w.Flush()
}

// matchObject: the key equals the subject or is a '/'-aligned suffix of it or
// of the path of the object the event is about.
func matchObject(key, subject string, d events.Data) bool {
	cands := []string{subject}
	switch d := d.(type) {
	case *events.ObjectChanged:
		cands = append(cands, d.Object.Path())
	case *events.DriftDetected:
		cands = append(cands, d.Finding.Object.Path(), d.Finding.Address)
	case *events.DriftResolved:
		cands = append(cands, d.Finding.Object.Path(), d.Finding.Address)
	case *events.Import:
		cands = append(cands, d.Object.Path(), d.Address)
	}
	for _, c := range cands {
		if c == key || strings.HasSuffix(c, "/"+key) {
			return true
		}
	}
	return false
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
