package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/driftgate/driftgate/pkg/events"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, c := range cases {
		if got := parseRetryAfter(c.in, now); got != c.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPostClassifiesResponses(t *testing.T) {
	cases := []struct {
		status     int
		header     string
		permanent  bool
		retryAfter time.Duration
	}{
		{200, "", false, 0},
		{429, "3", false, 3 * time.Second},
		{503, "", false, 0},
		{500, "", false, 0},
		{408, "", false, 0},
		{400, "", true, 0},
		{401, "", true, 0},
		{404, "", true, 0},
		{302, "", true, 0}, // redirects are not followed
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if c.header != "" {
					w.Header().Set("Retry-After", c.header)
				}
				if c.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(c.status)
			}))
			defer srv.Close()
			err := post(context.Background(), NewHTTPClient(), srv.URL, http.Header{}, []byte("{}"))
			if c.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v", err)
			}
			if de.StatusCode != c.status || de.Permanent != c.permanent || de.RetryAfter != c.retryAfter {
				t.Errorf("got %+v", de)
			}
		})
	}
}

func TestErrorsNeverContainTheURL(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	const token = "T0SECRET/B0SECRET/xoxsecret"
	s := NewSlack("http://"+addr+"/services/"+token, NewHTTPClient())
	err := s.Send(context.Background(), &Alert{Entries: []Entry{{Data: &events.ClusterHealth{}}}})
	if err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), addr) {
		t.Errorf("err = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	err = NewSlack(slow.URL+"/services/"+token, NewHTTPClient()).Send(ctx, &Alert{})
	if err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("timeout err = %v", err)
	}
}

// TestSlackMessageStaysWithinBlockKitLimits renders oversized content.
func TestSlackMessageStaysWithinBlockKitLimits(t *testing.T) {
	long := strings.Repeat("x", 5000)
	now := time.Now()
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("spec.template.spec.containers[%d].env[%d].value", i, i))
	}
	f := events.Finding{ID: "f-1", Workspace: "w", Address: "kubernetes_config_map." + long, Class: "changed", Risk: "high",
		Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: long}, Paths: many,
		Attribution: []events.Attribution{{Manager: long, Operation: "Update", Time: &now}}, RecommendedAction: long}
	single := &Alert{Entries: []Entry{{Note: NoteOpened, Finding: &f, Data: &events.DriftDetected{Finding: f, PlanID: "p",
		Reason: long, Excerpt: events.Excerpt{After: map[string]any{"a": long, "b": []any{long}}}}}}}
	digest := &Alert{Workspace: "w"}
	for i := range 600 {
		g := f
		g.Address = fmt.Sprintf("kubernetes_deployment.a%03d_%s", i, long[:200])
		digest.Entries = append(digest.Entries, Entry{Note: NoteOpened, Finding: &g, Data: &events.DriftDetected{Finding: g, PlanID: "p"}})
	}
	imp := events.NewImport(events.ImportFailed, events.Import{RequestID: "r", WS: "w", Address: long, Reason: long, Diff: many, By: long})
	for name, a := range map[string]*Alert{"single": single, "digest": digest, "import": {Entries: []Entry{{Data: imp}}}} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(SlackMessage(a))
			if err != nil {
				t.Fatal(err)
			}
			var msg slack.WebhookMessage
			if err := json.Unmarshal(b, &msg); err != nil {
				t.Fatal(err)
			}
			if n := len(msg.Blocks.BlockSet); n == 0 || n > maxBlocks {
				t.Errorf("%d blocks", n)
			}
			for i, bl := range msg.Blocks.BlockSet {
				switch bl := bl.(type) {
				case *slack.HeaderBlock:
					if utf8.RuneCountInString(bl.Text.Text) > maxHeader {
						t.Errorf("block %d: header too long", i)
					}
				case *slack.SectionBlock:
					if bl.Text != nil {
						if err := bl.Text.Validate(); err != nil {
							t.Errorf("block %d: %v", i, err)
						}
					}
					if len(bl.Fields) > maxFields {
						t.Errorf("block %d: %d fields", i, len(bl.Fields))
					}
					for _, f := range bl.Fields {
						if utf8.RuneCountInString(f.Text) > maxField {
							t.Errorf("block %d: field too long", i)
						}
					}
				}
			}
		})
	}
}

func TestWebhookBody(t *testing.T) {
	one := &Alert{Entries: []Entry{{Body: []byte(`{"id":"a"}`)}}}
	if b, ct := webhookBody(one); string(b) != `{"id":"a"}` || ct != ContentTypeEvent {
		t.Errorf("single: %s %s", b, ct)
	}
	two := &Alert{Entries: []Entry{{Body: []byte(`{"id":"a"}`)}, {Body: []byte(`{"id":"b"}`)}}}
	if b, ct := webhookBody(two); string(b) != `[{"id":"a"},{"id":"b"}]` || ct != ContentTypeBatch {
		t.Errorf("batch: %s %s", b, ct)
	}
	if b, _ := webhookBody(&Alert{Entries: []Entry{{Note: NoteReminder}}}); b != nil {
		t.Errorf("a reminder has no webhook body: %s", b)
	}
}

func TestSignMatchesTheSpec(t *testing.T) {
	// printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	got := Sign([]byte("secret"), "1700000000", []byte("{}"))
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if err := Verify([]byte("secret"), "1700000000", got, []byte("{}"), time.Unix(1700000000+299, 0)); err != nil {
		t.Error(err)
	}
	if err := Verify([]byte("secret"), "1700000000", got, []byte("{}"), time.Unix(1700000000+301, 0)); err != ErrOldTimestamp {
		t.Errorf("301s old: %v", err)
	}
}

func TestImportRequestedCarriesDecisionButtons(t *testing.T) {
	req := func(policy, risk string) *Alert {
		d := events.NewImport(events.ImportRequested, events.Import{RequestID: "ir-00aa11bb22cc33dd", WS: "shop", FindingID: "f-1",
			Address: "kubernetes_deployment.web", ImportID: "shop/web", Risk: risk, Policy: policy,
			Object: events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}})
		return &Alert{ID: "a", Workspace: "shop", Entries: []Entry{{Data: d}}}
	}
	buttons := func(a *Alert) []string {
		b, err := json.Marshal(SlackMessage(a))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Blocks []struct {
				Type     string `json:"type"`
				Elements []struct {
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
				} `json:"elements"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, bl := range m.Blocks {
			if bl.Type == "actions" {
				for _, e := range bl.Elements {
					out = append(out, e.ActionID+"="+e.Value)
				}
			}
		}
		return out
	}
	want := "driftgate_approve=ir-00aa11bb22cc33dd driftgate_reject=ir-00aa11bb22cc33dd"
	for _, c := range []struct {
		policy, risk string
		want         string
	}{
		{"manual", events.RiskLow, want},
		{"auto-low-risk", events.RiskHigh, want},
		{"auto-low-risk", events.RiskLow, ""},
		{"auto", events.RiskHigh, ""},
	} {
		if got := strings.Join(buttons(req(c.policy, c.risk)), " "); got != c.want {
			t.Errorf("%s/%s: buttons %q, want %q", c.policy, c.risk, got, c.want)
		}
	}
	approved := events.NewImport(events.ImportApproved, events.Import{RequestID: "ir-1", WS: "shop", Address: "a.b", By: "alice", Policy: "manual"})
	if got := buttons(&Alert{ID: "b", Workspace: "shop", Entries: []Entry{{Data: approved}}}); len(got) != 0 {
		t.Errorf("import.approved carries buttons %v", got)
	}
}
