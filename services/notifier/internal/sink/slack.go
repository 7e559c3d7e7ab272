package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
)

// Slack posts Block Kit messages to an incoming webhook. The webhook URL is a
// secret: it appears in no error and no log line.
type Slack struct {
	url    string
	client *http.Client
}

// NewSlack returns a Slack sink for an incoming webhook URL.
func NewSlack(webhookURL string, client *http.Client) *Slack {
	return &Slack{url: webhookURL, client: client}
}

// Send posts the alert once.
func (s *Slack) Send(ctx context.Context, a *Alert) error {
	body, err := json.Marshal(SlackMessage(a))
	if err != nil {
		return &DeliveryError{Permanent: true, Err: fmt.Errorf("encode slack message: %w", err)}
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "driftgate-notifier")
	return post(ctx, s.client, s.url, h, body)
}

// Block Kit limits the renderer stays within.
const (
	maxBlocks      = 50
	maxHeader      = 150
	maxSectionText = 3000
	maxField       = 2000
	maxFields      = 10
	maxDigestLines = 40
	maxPaths       = 8
	maxExcerpt     = 6
)

// SlackMessage renders an alert as an incoming-webhook message with Block
// Kit blocks and a plain-text fallback.
func SlackMessage(a *Alert) *slack.WebhookMessage {
	var blocks []slack.Block
	var text string
	switch {
	case len(a.Entries) == 0:
		text = "driftgate: empty alert"
		blocks = []slack.Block{section(text)}
	case len(a.Entries) > 1 || a.Entries[0].Note == NoteReminder:
		text, blocks = digestBlocks(a)
	default:
		text, blocks = singleBlocks(a.Entries[0])
	}
	if len(blocks) > maxBlocks {
		blocks = append(blocks[:maxBlocks-1], contextBlock("… message shortened"))
	}
	return &slack.WebhookMessage{Text: trunc(text, maxSectionText), Blocks: &slack.Blocks{BlockSet: blocks}}
}

func singleBlocks(e Entry) (string, []slack.Block) {
	switch d := e.Data.(type) {
	case *events.DriftDetected:
		return driftBlocks(e.Note, &d.Finding, d.Excerpt, d.Reason, d.PlanID, e)
	case *events.DriftResolved:
		f := &d.Finding
		title := fmt.Sprintf("✅ Resolved: %s %s", f.Class, f.Address)
		line := fmt.Sprintf("*%s* in workspace *%s* no longer drifts", code(f.Address), esc(f.Workspace))
		if !f.FirstSeen.IsZero() {
			line += fmt.Sprintf(" (open since %s)", when(f.FirstSeen))
		}
		if d.Reason != "" {
			line += ": " + esc(d.Reason)
		}
		return title, []slack.Block{header(title), section(line), contextBlock(ids(f.ID, d.PlanID, e))}
	case *events.Import:
		return importBlocks(d, e)
	case *events.ClusterHealth:
		return healthBlocks(e.Note, d, e)
	}
	text := "driftgate event"
	if e.Data != nil {
		text = e.Data.Summary()
	}
	return text, []slack.Block{section(esc(text))}
}

func driftTitle(note string, f *events.Finding) string {
	icon, what := "🟡", "Drift"
	if f.Risk == events.RiskHigh {
		icon = "🔴"
	}
	switch {
	case f.Class == events.ClassChurn:
		what = "Ownership conflict"
	case note == NoteChanged:
		what = "Drift changed"
	case note == NoteReminder:
		what = "Still open"
	}
	return fmt.Sprintf("%s %s: %s %s", icon, what, f.Class, f.Address)
}

func driftBlocks(note string, f *events.Finding, ex events.Excerpt, reason, planID string, e Entry) (string, []slack.Block) {
	title := driftTitle(note, f)
	fields := []*slack.TextBlockObject{
		field("Workspace", esc(f.Workspace)),
		field("Class", esc(f.Class)),
		field("Risk", esc(f.Risk)),
		field("Object", esc(objectName(f.Object))),
	}
	if f.RecommendedAction != "" {
		fields = append(fields, field("Recommended action", esc(f.RecommendedAction)))
	}
	if f.ImportID != "" {
		fields = append(fields, field("Import ID", code(f.ImportID)))
	}
	blocks := []slack.Block{header(title), slack.NewSectionBlock(nil, fields, nil)}
	if len(f.Paths) > 0 {
		blocks = append(blocks, section("*Changed paths*\n"+pathList(f.Paths)))
	}
	if len(f.Attribution) > 0 {
		blocks = append(blocks, section("*Changed by*\n"+attributionList(f.Attribution)))
	}
	if lines := excerptLines(ex); lines != "" {
		blocks = append(blocks, section("*Before → after*\n"+lines))
	}
	if reason != "" {
		blocks = append(blocks, section("*Why*\n"+esc(reason)))
	}
	blocks = append(blocks, contextBlock(ids(f.ID, planID, e)))
	return title + fmt.Sprintf(" in %s (risk %s)", f.Workspace, f.Risk), blocks
}

func importBlocks(d *events.Import, e Entry) (string, []slack.Block) {
	icon := map[string]string{
		events.ImportRequested: "📥", events.ImportApproved: "👍", events.ImportRejected: "🚫", events.ImportStarted: "⏳",
		events.ImportSucceeded: "✅", events.ImportFailed: "❌", events.ImportRolledBack: "↩️",
	}[d.Verb()]
	title := fmt.Sprintf("%s Import %s: %s", icon, d.Verb(), d.Address)
	if d.Verb() == events.ImportRequested && d.Policy == "manual" {
		title += " (awaiting approval)"
	}
	fields := []*slack.TextBlockObject{
		field("Workspace", esc(d.WS)),
		field("Outcome", esc(d.Verb())),
		field("Object", esc(objectName(d.Object))),
		field("Risk", esc(orDash(d.Risk))),
	}
	if d.ImportID != "" {
		fields = append(fields, field("Import ID", code(d.ImportID)))
	}
	if d.By != "" {
		fields = append(fields, field("By", esc(d.By)))
	}
	if d.Step != "" {
		fields = append(fields, field("Step", esc(d.Step)))
	}
	if d.Attempt > 0 {
		fields = append(fields, field("Attempt", fmt.Sprint(d.Attempt)))
	}
	if d.DurationMS > 0 {
		fields = append(fields, field("Took", (time.Duration(d.DurationMS)*time.Millisecond).String()))
	}
	blocks := []slack.Block{header(title), slack.NewSectionBlock(nil, capFields(fields), nil)}
	if d.Reason != "" {
		blocks = append(blocks, section("*Reason*\n"+esc(d.Reason)))
	}
	if len(d.Diff) > 0 {
		blocks = append(blocks, section("*Blocking plan lines*\n```"+trunc(esc(strings.Join(capList(d.Diff, 12), "\n")), maxSectionText-20)+"```"))
	}
	if awaitsPerson(d) {
		blocks = append(blocks, decisionButtons(d.RequestID))
	}
	blocks = append(blocks, contextBlock(ids(d.FindingID, "", e)+" · request "+code(d.RequestID)))
	return title + " in " + d.WS, blocks
}

// awaitsPerson: an import.requested that no policy approves by itself.
func awaitsPerson(d *events.Import) bool {
	if d.Verb() != events.ImportRequested {
		return false
	}
	switch d.Policy {
	case config.ApprovalAuto:
		return false
	case config.ApprovalAutoLowRisk:
		return d.Risk == events.RiskHigh
	}
	return true
}

// decisionButtons are the Approve/Reject buttons of a request; the console
// serves the Slack app's interactivity endpoint that acts on them
// (docs/console.md). Approving asks for confirmation.
func decisionButtons(requestID string) slack.Block {
	approve := slack.NewButtonBlockElement(events.SlackActionApprove, requestID, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false))
	approve.Style = slack.StylePrimary
	approve.Confirm = slack.NewConfirmationBlockObject(slack.NewTextBlockObject(slack.PlainTextType, "Approve this import?", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "The import runs under the gate, recorded in your name.", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false), slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false))
	reject := slack.NewButtonBlockElement(events.SlackActionReject, requestID, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false))
	reject.Style = slack.StyleDanger
	return slack.NewActionBlock("driftgate-decide-"+requestID, approve, reject)
}

func healthBlocks(note string, d *events.ClusterHealth, e Entry) (string, []slack.Block) {
	what := d.Component
	if d.Node != "" {
		what += " " + d.Node
	}
	var title string
	if note == NoteRecovered {
		title = fmt.Sprintf("✅ Recovered: %s %s=%s on %s", what, d.Condition, d.Status, d.Cluster)
		if d.Duration != "" {
			title += " after " + d.Duration
		}
	} else {
		icon := "⚠️"
		if d.Severity == events.SeverityCritical {
			icon = "🚨"
		}
		title = fmt.Sprintf("%s %s: %s %s=%s on %s", icon, d.Severity, what, d.Condition, d.Status, d.Cluster)
	}
	fields := []*slack.TextBlockObject{
		field("Cluster", esc(d.Cluster)),
		field("Component", esc(d.Component)),
		field("Condition", esc(d.Condition+"="+d.Status)),
		field("Severity", esc(d.Severity)),
	}
	if d.Node != "" {
		fields = append(fields, field("Node", esc(d.Node)))
	}
	if d.WS != "" {
		fields = append(fields, field("Workspace", esc(d.WS)))
	}
	if !d.Since.IsZero() {
		fields = append(fields, field("Since", when(d.Since)))
	}
	blocks := []slack.Block{header(title), slack.NewSectionBlock(nil, capFields(fields), nil)}
	if msg := strings.TrimSpace(strings.Trim(d.Reason+": "+d.Message, ": ")); msg != "" {
		blocks = append(blocks, section(esc(msg)))
	}
	blocks = append(blocks, contextBlock(ids("", "", e)))
	return title, blocks
}

// digestBlocks renders several findings of one workspace (a plan's digest or
// a reminder) as one message.
func digestBlocks(a *Alert) (string, []slack.Block) {
	first := a.Entries[0]
	var findings []*events.Finding
	planID := ""
	for _, e := range a.Entries {
		if e.Finding != nil {
			findings = append(findings, e.Finding)
		}
		switch d := e.Data.(type) {
		case *events.DriftDetected:
			planID = d.PlanID
		case *events.DriftResolved:
			planID = d.PlanID
		}
	}
	if len(findings) == 0 { // a digest of non-finding events: list their summaries
		var lines []string
		for _, e := range a.Entries {
			if e.Data != nil {
				lines = append(lines, "• "+esc(e.Data.Summary()))
			}
		}
		title := fmt.Sprintf("%d driftgate events", len(a.Entries))
		return title, append([]slack.Block{header(title)}, lineSections(lines, len(lines))...)
	}
	var title string
	switch first.Note {
	case NoteResolved:
		title = fmt.Sprintf("✅ %d findings resolved in %s", len(findings), a.Workspace)
	case NoteReminder:
		title = fmt.Sprintf("⏰ %d findings still open in %s", len(findings), a.Workspace)
	default:
		title = fmt.Sprintf("%s %d drift findings in %s", riskIcon(findings), len(findings), a.Workspace)
	}
	counts := map[string]int{}
	high := 0
	for _, f := range findings {
		counts[f.Class]++
		if f.Risk == events.RiskHigh {
			high++
		}
	}
	var byClass []string
	for _, c := range events.Classes {
		if counts[c] > 0 {
			byClass = append(byClass, fmt.Sprintf("%s %d", c, counts[c]))
		}
	}
	fields := []*slack.TextBlockObject{
		field("Workspace", esc(a.Workspace)),
		field("Findings", fmt.Sprint(len(findings))),
		field("By class", esc(strings.Join(byClass, ", "))),
		field("High risk", fmt.Sprint(high)),
	}
	// High risk first, then by address, so the worst is on top.
	sorted := append([]*events.Finding(nil), findings...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if (sorted[i].Risk == events.RiskHigh) != (sorted[j].Risk == events.RiskHigh) {
			return sorted[i].Risk == events.RiskHigh
		}
		return sorted[i].Address < sorted[j].Address
	})
	lines := make([]string, 0, len(sorted))
	for _, f := range sorted {
		l := fmt.Sprintf("• *%s* %s (%s)", esc(f.Class), code(f.Address), esc(f.Risk))
		if first.Note != NoteResolved {
			if len(f.Paths) > 0 {
				l += " " + esc(strings.Join(capList(f.Paths, 3), ", "))
			}
			if len(f.Attribution) > 0 {
				l += " by " + esc(f.Attribution[0].Manager)
			}
			if f.RecommendedAction != "" {
				l += " → " + esc(f.RecommendedAction)
			}
		}
		lines = append(lines, l)
	}
	blocks := []slack.Block{header(title), slack.NewSectionBlock(nil, fields, nil)}
	blocks = append(blocks, lineSections(lines, maxDigestLines)...)
	ctx := "driftgate"
	if planID != "" {
		ctx += " · plan " + code(planID)
	}
	blocks = append(blocks, contextBlock(ctx))
	return title, blocks
}

// lineSections packs lines into sections within the text limit, showing at
// most max lines and a count of the rest.
func lineSections(lines []string, max int) []slack.Block {
	var blocks []slack.Block
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			blocks = append(blocks, section(b.String()))
			b.Reset()
		}
	}
	for i, l := range lines {
		if i == max {
			flush()
			blocks = append(blocks, section(fmt.Sprintf("… and %d more", len(lines)-max)))
			break
		}
		l = trunc(l, 300)
		if b.Len()+len(l)+1 > maxSectionText-100 {
			flush()
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(l)
	}
	flush()
	return blocks
}

func riskIcon(fs []*events.Finding) string {
	for _, f := range fs {
		if f.Risk == events.RiskHigh {
			return "🔴"
		}
	}
	return "🟡"
}

func header(s string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, trunc(s, maxHeader), true, false))
}

func section(mrkdwn string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, trunc(mrkdwn, maxSectionText), false, false), nil, nil)
}

func field(name, value string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, trunc("*"+name+"*\n"+value, maxField), false, false)
}

func capFields(fs []*slack.TextBlockObject) []*slack.TextBlockObject {
	if len(fs) > maxFields {
		return fs[:maxFields]
	}
	return fs
}

func contextBlock(mrkdwn string) slack.Block {
	return slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, trunc(mrkdwn, maxSectionText), false, false))
}

func ids(findingID, planID string, e Entry) string {
	parts := []string{"driftgate"}
	if findingID != "" {
		parts = append(parts, "finding "+code(findingID))
	}
	if planID != "" {
		parts = append(parts, "plan "+code(planID))
	}
	if e.Event != nil {
		parts = append(parts, "event "+code(e.Event.ID()))
	}
	return strings.Join(parts, " · ")
}

func objectName(o events.ObjectRef) string {
	if o.Kind == "" {
		return "-"
	}
	s := o.String()
	if o.Cluster != "" {
		s += " @ " + o.Cluster
	}
	return s
}

func pathList(paths []string) string {
	var out []string
	for _, p := range capList(paths, maxPaths) {
		out = append(out, code(p))
	}
	return strings.Join(out, ", ")
}

func attributionList(as []events.Attribution) string {
	var out []string
	for _, a := range as[:min(len(as), 5)] {
		s := "*" + esc(a.Manager) + "*"
		if a.Operation != "" {
			s += " (" + esc(a.Operation) + ")"
		}
		if a.Time != nil {
			s += " at " + when(*a.Time)
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

// excerptLines shows a few before → after values. The events carry values
// already redacted; Secrets' excerpts are dropped before rendering.
func excerptLines(ex events.Excerpt) string {
	keys := map[string]bool{}
	for k := range ex.Before {
		keys[k] = true
	}
	for k := range ex.After {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var lines []string
	for i, k := range sorted {
		if i == maxExcerpt {
			lines = append(lines, fmt.Sprintf("… and %d more", len(sorted)-maxExcerpt))
			break
		}
		lines = append(lines, fmt.Sprintf("%s: %s → %s", code(k), value(ex.Before, k), value(ex.After, k)))
	}
	return strings.Join(lines, "\n")
}

func value(m map[string]any, k string) string {
	v, ok := m[k]
	if !ok {
		return "_(none)_"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "_(?)_"
	}
	return code(trunc(string(b), 80))
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// esc escapes the three characters Slack mrkdwn reserves.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func code(s string) string {
	return "`" + esc(strings.ReplaceAll(s, "`", "'")) + "`"
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("+%d more", len(s)-n))
}

// trunc cuts s to at most n runes.
func trunc(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
