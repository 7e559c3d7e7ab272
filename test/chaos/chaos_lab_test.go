package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
)

// Row is one line of the table.
type Row struct {
	Fault            string
	Start, Healed    time.Time
	End              time.Time
	Note             string
	Err              error
	Changes          int
	Expected         int
	Reported         int
	Alerts           int
	SlackPosts       int
	Lost             int
	Duplicates       int
	Unintended       int
	Corrupted        int
	Recovery         time.Duration
	unintendedDetail []string
}

// TestChaosLab runs every fault once while the load driver works.
// Without CHAOS (go test, make test) or with CHAOS=short (make chaos-short)
// it runs the short form: shorter outages, lanes' recovery checked once
// after the last fault. CHAOS=long (make chaos) runs the long form: longer
// outages, every lane through a change after each fault. In both, the next
// fault waits until every alert due so far is at the webhook, unless
// CHAOS_OVERLAP is set. -short and CHAOS=off skip it.
func TestChaosLab(t *testing.T) {
	form := os.Getenv("CHAOS")
	if testing.Short() {
		t.Skip("-short: the fault suite needs the lab and about 5 minutes")
	}
	if form == "off" {
		t.Skip("CHAOS=off")
	}
	if form != "" && form != "short" && form != "long" {
		t.Fatalf("CHAOS=%q: want short, long or off", form)
	}
	if dir := os.Getenv("CHAOS_LOGS"); dir != "" { // the replicas' logs and stream.jsonl go there
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("CHAOS_LOGS=%q: %v", dir, err)
		}
	}
	long := form == "long"
	// Bounded: when the time is up the rows not yet run are left out and the
	// table is printed with what ran.
	total := 15 * time.Minute
	if long {
		total = 45 * time.Minute
	}
	if v, err := time.ParseDuration(os.Getenv("CHAOS_BUDGET")); err == nil {
		total = v
	}
	began := time.Now()
	hctx, hcancel := context.WithCancel(context.Background())
	defer hcancel()
	h := StartHarness(t, hctx)
	t.Logf("%s: harness up in %s", time.Now().Format("15:04:05"), time.Since(began).Round(time.Second))
	ctx, cancel := context.WithTimeout(hctx, total) // the rows' budget
	defer cancel()
	d := &Driver{h: h, Pace: dur(long, 5*time.Second, 2*time.Second), Limit: 3 * time.Minute}
	dctx, dstop := context.WithCancel(ctx)
	wg := d.Run(dctx)
	defer func() { dstop(); wg.Wait() }()

	// recovered waits until every change lane made a change at or after
	// since and saw its fact. The adopt lane does not gate: an import the
	// importer leaves for review (see the row's findings) never finishes.
	recovered := func(since time.Time) error {
		return until(ctx, d.Limit+time.Minute, "every lane through a change made after the heal", func() bool {
			seen := map[string]bool{}
			for _, s := range d.Steps() {
				if !s.At.Before(since) && !s.Done.IsZero() {
					seen[s.Lane] = true
				}
			}
			for _, l := range gatingLanes {
				if !seen[l] {
					return false
				}
			}
			return true
		})
	}
	only := os.Getenv("CHAOS_FAULTS") // comma-separated substrings: run only these rows
	var rows []*Row
	for _, f := range Faults {
		if only != "" && !matchAny(f.Name, only) {
			continue
		}
		if ctx.Err() != nil {
			rows = append(rows, &Row{Fault: f.Name, Err: errors.New("not run: the time budget was spent"), Start: time.Now(), End: time.Now()})
			continue
		}
		row := &Row{Fault: f.Name, Start: time.Now()}
		snap := h.snapshot(ctx)
		t.Logf("%s: %s injecting", time.Now().Format("15:04:05"), f.Name)
		row.Healed, row.Note, row.Err = f.Inject(ctx, h, long)
		if row.Err == nil && long {
			row.Err = recovered(row.Healed)
		}
		if row.Err == nil && os.Getenv("CHAOS_OVERLAP") == "" {
			// Each row's guarantees are its own (CHAOS_OVERLAP=1 lets the
			// faults overlap instead): the next fault waits until
			// every alert due so far is at the webhook (a notifier that took a
			// sink over holds its messages up to three ack waits), so no two
			// faults overlap. A miss here is the row's loss, counted below.
			cut := time.Now()
			_ = until(ctx, 3*time.Minute, "every alert due so far at the webhook", func() bool { return allDelivered(h, cut) })
		}
		row.End = time.Now()
		after := h.snapshot(hctx)
		for k, v := range snap {
			if after[k] != v {
				row.Unintended++
				row.unintendedDetail = append(row.unintendedDetail, fmt.Sprintf("%s %s → %s", k, v, after[k]))
			}
		}
		t.Logf("%s: %s done (%v) %s", time.Now().Format("15:04:05"), f.Name, row.Err, row.Note)
		rows = append(rows, row)
	}
	if !long && len(rows) > 0 {
		// Short form: the faults ran back to back; each row's window runs
		// to the next row's start, and the last heal is followed by every
		// lane's recovery.
		last := rows[len(rows)-1]
		for i := 0; i+1 < len(rows); i++ {
			rows[i].End = rows[i+1].Start
		}
		if last.Err == nil && !last.Healed.IsZero() {
			last.Err = recovered(last.Healed)
			last.End = time.Now()
		}
	}
	for _, row := range rows { // time to recover: the first fact of a change made after the heal
		for _, s := range d.Steps() {
			if !row.Healed.IsZero() && !s.At.Before(row.Healed) && !s.Done.IsZero() {
				if row.Recovery == 0 || s.Done.Sub(row.Healed) < row.Recovery {
					row.Recovery = s.Done.Sub(row.Healed)
				}
			}
		}
	}
	dstop()
	wg.Wait()
	// Drain: every routed event reaches the webhook (bounded).
	_ = until(hctx, 3*time.Minute, "every alert due at the webhook", func() bool { return allDelivered(h, time.Now()) })
	corrupt := stateCheck(hctx, h, stateKey)
	for at, bad := range stateCheck(hctx, h, tfStateKey) {
		corrupt[at] = corrupt[at] || bad
	}
	steps := d.Steps()
	recs := h.Rec.All()
	for i, row := range rows {
		next := time.Now()
		if i+1 < len(rows) {
			next = rows[i+1].Start
		}
		row.SlackPosts = h.Slack.PostsBetween(row.Start, next)
		in := func(at time.Time) bool { return !at.Before(row.Start) && at.Before(row.End) }
		changes := map[string]bool{}
		for _, s := range steps {
			if !in(s.At) {
				continue
			}
			changes[s.Lane+s.At.String()] = true
			row.Expected++
			if !s.Done.IsZero() {
				row.Reported++
			} else {
				row.Lost++
			}
		}
		row.Changes = len(changes)
		for _, a := range alertsDue(recs) {
			if !in(a.At) {
				continue
			}
			switch n := a.delivered(h.Hook); {
			case n == 0:
				row.Lost++
				t.Logf("%s: never at the webhook: %s (events %v)", row.Fault, a.What, a.IDs)
			case n > 1:
				row.Duplicates++
				t.Logf("%s: at the webhook %d times: %s (events %v)", row.Fault, n, a.What, a.IDs)
				row.Alerts++
			default:
				row.Alerts++
			}
		}
		for at, bad := range corrupt {
			if in(at) && bad {
				row.Corrupted++
			}
		}
	}
	table := Table(rows, long, d)
	fmt.Println(table)
	t.Logf("the fault suite took %s (harness, rows, drain)", time.Since(began).Round(time.Second))
	if dir := os.Getenv("CHAOS_LOGS"); dir != "" {
		dumpStream(dir, recs, h.Hook)
	}
	if out := os.Getenv("CHAOS_TABLE"); out != "" {
		_ = os.WriteFile(out, []byte(table), 0o644)
	}
	for _, row := range rows {
		if row.Err != nil || row.Lost > 0 || row.Duplicates > 0 || row.Unintended > 0 || row.Corrupted > 0 {
			t.Errorf("missed: %s: err=%v lost=%d dup=%d unintended=%v corrupted=%d", row.Fault, row.Err, row.Lost, row.Duplicates,
				row.unintendedDetail, row.Corrupted)
		}
	}
	for _, s := range steps {
		if s.Done.IsZero() {
			t.Logf("never seen: %s %s at %s: %s", s.Lane, s.Change, s.At.Format("15:04:05"), s.Expects)
		}
	}
}

// due is one alert the notifier owes the webhook, and the events (in
// stream order) any one of which may carry it.
type due struct {
	At   time.Time // the first of them
	What string
	IDs  []string
}

// allDelivered reports whether every alert due for an event recorded
// before cut is at the webhook.
func allDelivered(h *Harness, cut time.Time) bool {
	for _, a := range alertsDue(h.Rec.All()) {
		if a.At.Before(cut) && a.delivered(h.Hook) == 0 {
			return false
		}
	}
	return true
}

// delivered is how often the webhook accepted the alert: the accepted
// deliveries of all its events (more than one is a duplicate alert).
func (a due) delivered(rc *Receiver) int {
	n := 0
	for _, id := range a.IDs {
		n += rc.Deliveries(id)
	}
	return n
}

// alertsDue applies the notifier's promise (docs/notifier.md, "once per
// lifecycle") to the routed events of the stream: every import event is an
// alert; a finding owes one alert when it opens or changes materially
// (findings.Material, as the notifier judges it) and one when it resolves.
// A drift.detected that repeats an open finding unchanged — a planner
// replica or a plan at a new state serial announcing it again — is carried
// by the alert already due, not owed again; so is a repeated drift.resolved.
func alertsDue(recs []Record) []due {
	var out []due
	type last struct {
		open bool
		f    events.Finding
		i    int // its due in out
	}
	seen := map[string]*last{}
	for _, r := range recs {
		if !routed(r) {
			continue
		}
		switch d := r.Data.(type) {
		case *events.DriftDetected:
			l := seen[d.Finding.ID]
			if l != nil && l.open && !findings.Material(l.f, d.Finding) {
				out[l.i].IDs = append(out[l.i].IDs, r.ID)
				continue
			}
			out = append(out, due{At: r.At, What: fmt.Sprintf("%s %s %s opened at seq %d", d.Finding.Class, d.Finding.Address, d.Finding.ID, r.Seq), IDs: []string{r.ID}})
			seen[d.Finding.ID] = &last{open: true, f: d.Finding, i: len(out) - 1}
		case *events.DriftResolved:
			l := seen[d.Finding.ID]
			if l != nil && !l.open {
				out[l.i].IDs = append(out[l.i].IDs, r.ID)
				continue
			}
			out = append(out, due{At: r.At, What: fmt.Sprintf("%s %s %s resolved at seq %d", d.Finding.Class, d.Finding.Address, d.Finding.ID, r.Seq), IDs: []string{r.ID}})
			seen[d.Finding.ID] = &last{f: d.Finding, i: len(out) - 1}
		default:
			out = append(out, due{At: r.At, What: fmt.Sprintf("%s seq %d", r.Type, r.Seq), IDs: []string{r.ID}})
		}
	}
	return out
}

// gatingLanes are the lanes whose next fact says the pipeline recovered.
var gatingLanes = []string{"scale", "label", "recreate", "tf-scale", "tf-label"}

// dumpStream writes every record of the stream with its webhook deliveries
// to dir/stream.jsonl, to read a run's causes afterwards.
func dumpStream(dir string, recs []Record, hook *Receiver) {
	f, err := os.Create(dir + "/stream.jsonl")
	if err != nil {
		return
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, r := range recs {
		_ = enc.Encode(map[string]any{"seq": r.Seq, "at": r.At, "subject": r.Subject, "id": r.ID, "type": r.Type,
			"data": r.Data, "webhook": hook.Deliveries(r.ID), "err": fmt.Sprint(r.Err)})
	}
}

func matchAny(name, list string) bool {
	for _, s := range strings.Split(list, ",") {
		if s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// stateCheck reads every version of the state object: each parses, keeps
// the first version's lineage, and has a serial no lower than the version
// before it. It returns each version's time and whether it is corrupted.
func stateCheck(ctx context.Context, h *Harness, key string) map[time.Time]bool {
	out := map[time.Time]bool{}
	vs, err := h.Lab.StateVersions(ctx, key)
	if err != nil {
		h.t.Errorf("state versions: %v", err)
		return out
	}
	c := h.Lab.S3.Client()
	lineage := ""
	serial := int64(-1)
	var history []string
	corrupt := false
	for i := len(vs) - 1; i >= 0; i-- { // oldest first
		v := vs[i]
		at := aws.ToTime(v.LastModified)
		obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(h.Lab.S3.Bucket), Key: v.Key, VersionId: v.VersionId})
		if err != nil {
			out[at] = true
			continue
		}
		var st struct {
			Serial  int64  `json:"serial"`
			Lineage string `json:"lineage"`
		}
		err = json.NewDecoder(obj.Body).Decode(&st)
		obj.Body.Close()
		bad := err != nil || st.Lineage == "" || (lineage != "" && st.Lineage != lineage) || st.Serial < serial
		if bad {
			h.t.Logf("state %s version %s (%s): serial %d lineage %q after serial %d lineage %q (%v)", key, aws.ToString(v.VersionId), at, st.Serial, st.Lineage, serial, lineage, err)
		}
		if lineage == "" {
			lineage = st.Lineage
		}
		serial = max(serial, st.Serial)
		out[at] = bad
		history = append(history, fmt.Sprintf("%s serial %d (%d bytes, version %s)", at.Format("15:04:05.000"), st.Serial, aws.ToInt64(v.Size), aws.ToString(v.VersionId)))
		corrupt = corrupt || bad
	}
	if corrupt { // every version, oldest first: who wrote what when
		h.t.Logf("state %s versions:\n  %s", key, strings.Join(history, "\n  "))
	}
	return out
}

// Table formats the rows.
func Table(rows []*Row, long bool, d *Driver) string {
	var b strings.Builder
	form := "short"
	if long {
		form = "long"
	}
	var changes int
	var span time.Duration
	for _, r := range rows {
		changes += r.Changes
		span += r.End.Sub(r.Start)
	}
	rate := 0.0
	if span > 0 {
		rate = float64(changes) / span.Minutes()
	}
	fmt.Fprintf(&b, "driftgate fault suite (%s form): %d changes in %s, %.1f changes/min across 6 lanes (4 OpenTofu, 2 Terraform)\n", form, changes, span.Round(time.Second), rate)
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(w, "fault\tchanges made\tfindings expected/reported\talerts delivered (webhook/slack posts)\tlost\tduplicate alerts\tunintended live changes\tstate versions corrupted\ttime to recover\tresult")
	for _, r := range rows {
		result := "ok"
		if r.Err != nil || r.Lost > 0 || r.Duplicates > 0 || r.Unintended > 0 || r.Corrupted > 0 {
			result = "MISSED"
			if r.Err != nil {
				result += ": " + r.Err.Error()
			}
		}
		if r.Note != "" {
			result += " — " + r.Note
		}
		fmt.Fprintf(w, "%s\t%d\t%d/%d\t%d/%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Fault, r.Changes, r.Expected, r.Reported, r.Alerts, r.SlackPosts,
			r.Lost, r.Duplicates, r.Unintended, r.Corrupted, r.Recovery.Round(100*time.Millisecond), result)
	}
	w.Flush()
	return b.String()
}
