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
	"os"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/driftgate/driftgate/pkg/events"
)

func init() {
	register("audit", "replay the event stream: the audit trail, filtered, as a timeline or JSON", runAudit)
}

// auditFilter selects events from the stream (events.ReplayFilter).
type auditFilter = events.ReplayFilter

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
	f := auditFilter{Workspace: *ws, Object: *obj, TypePrefix: events.NormaliseType(*typ)}
	var err error
	if f.Since, err = parseWhen(*since, now); err != nil {
		return fail(fmt.Errorf("--since: %w", err))
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return fail(fmt.Errorf("--until: %w", err))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return fail(errors.New("--until is before --since"))
	}
	w, err := newAuditWriter(*out, stdout)
	if err != nil {
		return fail(err)
	}
	auditGC()
	nc, js, err := connectCLI(*natsURL)
	if err != nil {
		return fail(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	defer cancel()
	skipped, err := events.Replay(ctx, js, f, w.write)
	w.skipped = skipped
	if err != nil {
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

// auditGC gives the replay's garbage collector more headroom, unless
// GOGC or GOMEMLIMIT say otherwise. What a replay keeps is bounded (the
// batches in flight: 5-10 MB whatever the stream's length) but what it
// allocates is not (every message the NATS client reads), so at the
// default GOGC=100 the collector ran every few thousand events. At 400 the
// heap may grow to five times what is live (a heap goal of about 30 MB
// instead of 14: about 25 MB more peak RSS, 17% less CPU at 1,000,000
// events), still flat however long the stream (docs/performance.md). The
// soft memory limit only matters for a stream of unusually large messages:
// the collector then works harder rather than let the heap grow past it.
func auditGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// auditWriter prints events as they come, never holding the stream.
type auditWriter struct {
	format  string
	w       *bufio.Writer
	n       int
	skipped int          // messages that are not valid events, left out by a filter
	buf     bytes.Buffer // a body being compacted
	line    []byte       // a table row being built
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

func (w *auditWriter) write(e events.Entry) error {
	var raw json.RawMessage
	switch e.Type {
	case "deadletter":
		raw = w.record(map[string]any{"type": "deadletter", "time": e.Time, "sequence": e.Seq,
			"consumer": e.Consumer, "reason": e.Reason, "original_subject": e.Subject})
	case "invalid":
		raw = w.record(map[string]any{"type": "invalid", "time": e.Time, "sequence": e.Seq,
			"subject": e.Subject, "reason": e.Reason})
	default:
		if w.format != "table" {
			raw = e.Body // valid JSON: Replay decoded it
			if bytes.IndexByte(e.Body, '\n') >= 0 || bytes.IndexByte(e.Body, '\r') >= 0 {
				// Over several lines (not as driftgate publishes): one line.
				w.buf.Reset()
				if err := json.Compact(&w.buf, e.Body); err != nil {
					return fmt.Errorf("replay: sequence %d: %w", e.Seq, err)
				}
				raw = w.buf.Bytes()
			}
		}
	}
	w.n++
	switch w.format {
	case "table":
		// fmt.Fprintf("%-20s  %-20s  %-48s  %s\n", ...), without fmt.
		short := strings.TrimSuffix(strings.TrimPrefix(e.Type, "dev.driftgate."), ".v1")
		b := e.Time.Local().AppendFormat(w.line[:0], "2006-01-02 15:04:05")
		b = pad(b, 20, 19)
		b = append(b, "  "...)
		b = pad(append(b, short...), 20, utf8.RuneCountInString(short))
		b = append(b, "  "...)
		b = pad(append(b, e.Subject...), 48, utf8.RuneCountInString(e.Subject))
		b = append(b, "  "...)
		b = append(appendOneLine(b, e.Summary), '\n')
		w.line = b
		_, err := w.w.Write(b)
		return err
	case "jsonl":
		if _, err := w.w.Write(raw); err != nil {
			return err
		}
		return w.w.WriteByte('\n')
	default:
		sep := ",\n"
		if w.n == 1 {
			sep = "[\n"
		}
		_, err := fmt.Fprintf(w.w, "%s%s", sep, raw)
		return err
	}
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

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// appendOneLine appends oneLine(s) to b.
func appendOneLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		// Already one line: single ASCII spaces between words, none at
		// the ends (every summary driftgate writes).
		if c >= utf8.RuneSelf || c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ') || c != ' ' && asciiSpace(c) {
			return append(b, oneLine(s)...)
		}
	}
	return append(b, s...)
}

func asciiSpace(c byte) bool {
	return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' '
}

// pad pads b, whose last field is n runes long, with spaces to width
// runes, as fmt's %-{width}s does.
func pad(b []byte, width, n int) []byte {
	for ; n < width; n++ {
		b = append(b, ' ')
	}
	return b
}
