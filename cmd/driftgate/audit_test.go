package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
)

// seed publishes n events cycling through object changes, drift findings of
// two workspaces and import decisions, and returns how many of each.
func seed(tb testing.TB, env *eventstest.Env, n int) map[string]int {
	tb.Helper()
	return seedFrom(tb, env, 0, n)
}

// seedFrom publishes events from to from+n-1 of seed's cycle (distinct
// events: their ids depend on i), waiting for the acks every 4,000.
func seedFrom(tb testing.TB, env *eventstest.Env, from, n int) map[string]int {
	tb.Helper()
	ctx := context.Background()
	pub := events.NewPublisher(env.JS, "test")
	counts := map[string]int{}
	acked := func() {
		select {
		case <-env.JS.PublishAsyncComplete():
		case <-time.After(time.Minute):
			tb.Fatal("publishes not acked")
		}
	}
	for i := from; i < from+n; i++ {
		if i > from && (i-from)%4000 == 0 {
			acked()
		}
		var d events.Data
		ws := []string{"marketplace", "operator-db"}[i%2]
		switch i % 3 {
		case 0:
			d = &events.ObjectChanged{Object: events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment",
				Namespace: "shop", Name: fmt.Sprintf("app-%d", i%10), UID: fmt.Sprintf("u%d", i)}, Change: events.ChangeUpdated,
				ResourceVersion: fmt.Sprint(i), Paths: []string{"spec.replicas"}, ObservedAt: time.Now()}
		case 1:
			addr := fmt.Sprintf("kubernetes_config_map.c%d", i%7)
			d = &events.DriftDetected{PlanID: fmt.Sprintf("p%d", i), Finding: events.Finding{ID: events.FindingID(ws, addr, "changed"),
				Workspace: ws, Address: addr, Class: events.ClassChanged, Risk: events.RiskLow, State: events.StateOpen,
				Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: fmt.Sprintf("c%d", i%7)}}}
		default:
			d = events.NewImport(events.ImportApproved, events.Import{RequestID: fmt.Sprintf("r%d", i), WS: ws,
				Address: "kubernetes_namespace.shop", By: "alice", At: time.Now()})
		}
		if _, err := pub.PublishAsync(ctx, d); err != nil {
			tb.Fatal(err)
		}
		counts[d.EventType()]++
		counts["ws:"+d.Workspace()]++
	}
	acked()
	return counts
}

func audit(t *testing.T, url string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(append([]string{"audit", "--nats-url", url}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func TestAuditFiltersAndOrder(t *testing.T) {
	env := eventstest.Start(t)
	counts := seed(t, env, 3000)
	url := env.Server.ClientURL()

	jsonl := func(args ...string) []map[string]any {
		out, errs, code := audit(t, url, append(args, "-o", "jsonl")...)
		if code != 0 {
			t.Fatalf("audit %v: exit %d: %s", args, code, errs)
		}
		var evs []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			evs = append(evs, e)
		}
		return evs
	}

	all := jsonl()
	if len(all) != 3000 {
		t.Fatalf("replayed %d events, want 3000", len(all))
	}
	// Events were created one after another, so stream order is time order.
	var prev time.Time
	for i, e := range all {
		tm, err := time.Parse(time.RFC3339Nano, e["time"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if tm.Before(prev) {
			t.Fatalf("event %d out of order: %s after %s", i, tm, prev)
		}
		prev = tm
	}
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"--type", "object"}, counts[events.TypeObjectChanged]},
		{[]string{"--type", "dev.driftgate.drift.detected.v1"}, counts[events.TypeDriftDetected]},
		{[]string{"--type", "import.approved"}, counts[events.TypeImportApproved]},
		{[]string{"--type", "dri"}, counts[events.TypeDriftDetected]},
		{[]string{"--workspace", "marketplace"}, counts["ws:marketplace"]},
		{[]string{"--workspace", "marketplace", "--type", "drift"}, counts[events.TypeDriftDetected] / 2},
		{[]string{"--object", "Deployment/shop/app-3"}, 100},
		{[]string{"--object", "kubernetes_config_map.c0"}, 143},
		{[]string{"--since", "1h"}, 3000},
		{[]string{"--until", "1h"}, 0},
		{[]string{"--since", time.Now().Add(time.Hour).Format(time.RFC3339)}, 0},
	}
	for _, c := range cases {
		if got := len(jsonl(c.args...)); got != c.want {
			t.Errorf("audit %v: %d events, want %d", c.args, got, c.want)
		}
	}

	out, _, code := audit(t, url, "--type", "import", "-o", "table")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != counts[events.TypeImportApproved]+1 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("table: exit %d, %d lines", code, len(lines))
	}
	if !strings.Contains(lines[1], "import.approved") || !strings.Contains(lines[1], "by alice") {
		t.Errorf("table row %q", lines[1])
	}
	out, _, _ = audit(t, url, "--workspace", "nobody", "-o", "json")
	if strings.TrimSpace(out) != "[\n]" {
		t.Errorf("empty json = %q", out)
	}
	var arr []json.RawMessage
	out, _, _ = audit(t, url, "--type", "import", "-o", "json")
	if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) != counts[events.TypeImportApproved] {
		t.Errorf("json array: %d items, %v", len(arr), err)
	}
}

func TestAuditShowsDeadLetters(t *testing.T) {
	env := eventstest.Start(t)
	c, err := events.NewConsumer(env.JS, events.ConsumerConfig{Durable: "x"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	if _, err := env.JS.Publish(ctx, "driftgate.object.changed.bad", []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for time.Now().Before(deadline) {
		out, _, _ = audit(t, env.Server.ClientURL(), "--type", "deadletter")
		if strings.Contains(out, "not a CloudEvent") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(out, "dead-lettered by x: not a CloudEvent") {
		t.Fatalf("audit output:\n%s", out)
	}
}

func TestAuditBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--since", "yesterday"}, `driftgate audit: --since: "yesterday" is neither a duration`},
		{[]string{"-o", "yaml"}, `driftgate audit: -o "yaml" is not table, json or jsonl`},
		{[]string{"--since", "1h", "--until", "2h"}, "driftgate audit: --until is before --since"},
		{[]string{"--nats-url", "nats://127.0.0.1:1"}, "driftgate audit: cannot reach NATS at nats://127.0.0.1:1"},
	} {
		var out, errb bytes.Buffer
		code := dispatch(append([]string{"audit"}, c.args...), &out, &errb)
		if code == 0 || !strings.HasPrefix(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("audit %v: exit %d, stderr %q", c.args, code, errb.String())
		}
	}
}

// BenchmarkAuditReplay100k replays 100,000 events in this process (the
// in-process JetStream server's CPU included): what -cpuprofile profiles.
// BenchmarkAuditScale measures the command as a process of its own.
func BenchmarkAuditReplay100k(b *testing.B) {
	env := eventstest.Start(b)
	seed(b, env, 100_000)
	for _, format := range []string{"table", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			for range b.N {
				var out lineCounter
				var errb bytes.Buffer
				if code := dispatch([]string{"audit", "--nats-url", env.Server.ClientURL(), "-o", format}, &out, &errb); code != 0 {
					b.Fatal(errb.String())
				}
				want := 100_000
				if format == "table" {
					want++
				}
				if out.n != want {
					b.Fatalf("%d lines", out.n)
				}
			}
			b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// lineCounter counts the lines written to it and keeps nothing.
type lineCounter struct{ n int }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

// TestAuditNeverPrintsInvalidMessagesAsEvents: bodies a stranger publishes
// straight into the stream (garbage, a body that pretends to be an approval
// under another type's header, a valid event pretty-printed over several
// lines) never come out as events: -o json stays one valid JSON array, -o
// jsonl one valid JSON object per line, and no planted body is printed.
func TestAuditNeverPrintsInvalidMessagesAsEvents(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	seed(t, env, 6)
	e, err := events.New("test", events.NewImport(events.ImportApproved, events.Import{RequestID: "r-planted",
		WS: "marketplace", Address: "kubernetes_namespace.shop", By: "ceo-canary", At: time.Now()}))
	if err != nil {
		t.Fatal(err)
	}
	planted, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// A valid event over several lines: shown, compacted onto one line.
	// (Envelopes are not signed, so a valid one a stranger publishes shows
	// as an event; docs/security.md says what a reader can trust.)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, bytes.ReplaceAll(planted, []byte("ceo-canary"), []byte("valid-unsigned")), "", "  "); err != nil {
		t.Fatal(err)
	}
	msgs := []*nats.Msg{
		{Subject: "driftgate.object.changed.x", Data: []byte("garbage-canary\n{\"type\":\"x\"}")},
		{Subject: "driftgate.object.changed.y", Data: []byte(`{"specversion":"1.0","by":"ceo-canary"}`)},
		// a well-formed approval under an object.changed header: not a fact
		{Subject: "driftgate.object.changed.z", Data: planted, Header: nats.Header{events.HeaderType: []string{events.TypeObjectChanged}}},
	}
	for _, m := range msgs {
		if _, err := env.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	_, approval, err := events.Decode(planted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: events.NATSSubject(approval), Data: pretty.Bytes(),
		Header: nats.Header{events.HeaderType: []string{events.TypeImportApproved}}}); err != nil {
		t.Fatal(err)
	}
	// A well-formed approval under another workspace's subject (what a
	// user allowed to publish there could do): not a fact either.
	if _, err := env.JS.PublishMsg(ctx, &nats.Msg{Subject: "driftgate.import.approved.elsewhere.x", Data: planted,
		Header: nats.Header{events.HeaderType: []string{events.TypeImportApproved}}}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := audit(t, env.Server.ClientURL(), "-o", "json")
	if code != 0 {
		t.Fatalf("audit -o json: exit %d: %s", code, errOut)
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("audit -o json is not valid JSON: %v\n%s", err, out)
	}
	invalid := 0
	for _, r := range all {
		if r["type"] == "invalid" {
			invalid++
			if r["reason"] == "" || r["subject"] == "" {
				t.Errorf("invalid record without reason or subject: %v", r)
			}
		}
	}
	if invalid != 4 || len(all) != 6+5 {
		t.Errorf("audit -o json: %d records, %d invalid; want 11 and 4\n%s", len(all), invalid, out)
	}
	if strings.Contains(out, "canary") {
		t.Errorf("a planted body was printed:\n%s", out)
	}

	out, _, code = audit(t, env.Server.ClientURL(), "-o", "jsonl")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 11 {
		t.Fatalf("audit -o jsonl: exit %d, %d lines:\n%s", code, len(lines), out)
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("jsonl line %d is not JSON: %q", i+1, l)
		}
	}

	out, errOut, code = audit(t, env.Server.ClientURL(), "--type", "object")
	if code != 0 || strings.Count(out, "object.changed") != 2 || !strings.Contains(errOut, "3 messages in the stream are not valid events") {
		t.Errorf("audit --type object: exit %d\n%s\nstderr: %s", code, out, errOut)
	}
	out, _, _ = audit(t, env.Server.ClientURL(), "--type", "invalid")
	if strings.Count(out, "not a valid event") != 4 || !strings.Contains(out, `header type "dev.driftgate.object.changed.v1" does not match`) ||
		!strings.Contains(out, "stored under driftgate.import.approved.elsewhere.x, but the event belongs under driftgate.import.approved.marketplace.") {
		t.Errorf("audit --type invalid:\n%s", out)
	}
}

// TestAuditTableRowsAsFmt: the table writer builds rows by hand; they are
// what fmt's "%-20s  %-20s  %-48s  %s" made of them.
func TestAuditTableRowsAsFmt(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, e := range []events.Entry{
		{Time: at, Type: events.TypeDriftDetected, Subject: "marketplace/kubernetes_config_map.c1", Summary: "changed kubernetes_config_map.c1 risk=low spec.replicas"},
		{Time: at, Type: "invalid", Subject: "driftgate.object.changed.x", Summary: "not a valid event: not a CloudEvent: x"},
		{Time: at, Type: events.TypeImportApproved, Subject: strings.Repeat("long/", 20), Summary: "  two\tlines\nand  spaces "},
		{Time: at, Type: "dev.driftgate.x.v1", Subject: "ümlaut/名前", Summary: "non\u00a0breaking\u0085next ümlaut"},
		{Time: at, Type: events.TypeObjectChanged, Subject: "bad-utf8-\xff", Summary: "a b"},
		{Time: at, Type: events.TypeObjectChanged, Subject: "", Summary: ""},
		{Time: at, Type: events.TypeObjectChanged, Subject: "x", Summary: " "},
	} {
		var got bytes.Buffer
		w, err := newAuditWriter("table", &got)
		if err != nil {
			t.Fatal(err)
		}
		got.Reset()
		w.w.Reset(&got)
		if err := w.write(e); err != nil {
			t.Fatal(err)
		}
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		short := strings.TrimSuffix(strings.TrimPrefix(e.Type, "dev.driftgate."), ".v1")
		want := fmt.Sprintf("%-20s  %-20s  %-48s  %s\n", e.Time.Local().Format("2006-01-02 15:04:05"), short, e.Subject, oneLine(e.Summary))
		if got.String() != want {
			t.Errorf("row\n%q\nwant\n%q", got.String(), want)
		}
	}
}
