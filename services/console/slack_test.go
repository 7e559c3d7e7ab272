package console_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/imports"
)

// slackHooks is a local HTTP server speaking Slack's response_url side:
// it takes JSON messages and answers "ok", as hooks.slack.com does.
type slackHooks struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []map[string]any
	note chan struct{}
}

func startSlackHooks(t *testing.T) *slackHooks {
	h := &slackHooks{note: make(chan struct{}, 64)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m["text"] == nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
		h.note <- struct{}{}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait returns the messages once n have arrived.
func (h *slackHooks) wait(t *testing.T, n int) []map[string]any {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		h.mu.Lock()
		got := append([]map[string]any(nil), h.got...)
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-h.note:
		case <-timeout:
			t.Fatalf("%d response_url messages, want %d: %v", len(got), n, got)
		}
	}
}

// click is a block_actions interaction as Slack posts it.
func click(user, actionID, requestID, responseURL string) string {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": user, "username": strings.ToLower(user), "team_id": "T0DRIFT"},
		"team":         map[string]string{"id": "T0DRIFT", "domain": "driftgate"},
		"api_app_id":   "A0CONSOLE",
		"token":        "legacy-verification-token",
		"trigger_id":   "1.2.3",
		"response_url": responseURL,
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0OPS"},
		"channel":      map[string]string{"id": "C0OPS", "name": "ops"},
		"message":      map[string]any{"type": "message", "ts": "1700000000.000100", "text": "Import requested"},
		"actions": []map[string]any{{"type": "button", "action_id": actionID, "block_id": "driftgate-decide-" + requestID,
			"value": requestID, "text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": "1700000001.000200"}},
	}
	b, _ := json.Marshal(p)
	return url.Values{"payload": {string(b)}}.Encode()
}

// post sends body signed as Slack signs it: v0=hex(HMAC-SHA256(secret,
// "v0:" + timestamp + ":" + body)).
func postSlack(t *testing.T, base, secret string, at time.Time, body string) (int, string) {
	t.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":" + body))
	req, _ := http.NewRequest(http.MethodPost, base+"/slack/interactive", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (lb *lab) addRequest(t *testing.T, id string) {
	t.Helper()
	now := time.Now().UTC()
	rq := imports.Request{ID: id, Workspace: "shop", FindingID: "f-" + id, Address: "kubernetes_config_map." + id[3:11],
		ImportID: "shop/" + id, Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: id},
		Risk: events.RiskLow, Policy: "manual", StateSerial: 3, Status: imports.StatusPending, CreatedAt: now, UpdatedAt: now}
	if _, err := events.PutJSON(context.Background(), lb.env.Buckets.State, imports.RequestKey("shop", id), rq); err != nil {
		t.Fatal(err)
	}
}

func TestSlackApprovals(t *testing.T) {
	lb := start(t)
	hooks := startSlackHooks(t)
	isDecision := func(r eventstest.Recorded) bool {
		return r.Event.Type() == events.TypeImportApproved || r.Event.Type() == events.TypeImportRejected
	}
	decisionsFor := func(id string) int {
		n := 0
		for _, d := range lb.decider.decisions() {
			if d.ID == id {
				n++
			}
		}
		return n
	}

	t.Run("approve: one decision, in the approver's name, and the message updated", func(t *testing.T) {
		const id = "ir-aaaaaaaaaaaaaaa1"
		lb.addRequest(t, id)
		mark := lb.rec.Mark()
		code, _ := postSlack(t, lb.url, slackSecret, time.Now(), click("U0ALICE", events.SlackActionApprove, id, hooks.srv.URL+"/a"))
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		ev := lb.rec.WaitFor(t, mark, 10*time.Second, "import.approved", isDecision)
		if imp := ev.Data.(*events.Import); ev.Event.Type() != events.TypeImportApproved || imp.RequestID != id || imp.By != "alice" || imp.Reason != "approved in Slack" {
			t.Errorf("decision: %s %+v", ev.Event.Type(), imp)
		}
		msgs := hooks.wait(t, 1)
		if m := msgs[0]; m["replace_original"] != true || !strings.Contains(m["text"].(string), "Approved") || !strings.Contains(m["text"].(string), "by alice") {
			t.Errorf("message update: %v", m)
		}
		if n := decisionsFor(id); n != 1 {
			t.Errorf("%d decisions", n)
		}
	})

	t.Run("two concurrent clicks: one decision", func(t *testing.T) {
		const id = "ir-bbbbbbbbbbbbbbb2"
		lb.addRequest(t, id)
		mark := lb.rec.Mark()
		before := len(hooks.wait(t, 0))
		var wg sync.WaitGroup
		for _, c := range []struct{ user, action string }{{"U0ALICE", events.SlackActionApprove}, {"U0CAROL", events.SlackActionReject},
			{"U0ALICE", events.SlackActionApprove}, {"U0CAROL", events.SlackActionApprove}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, _ := postSlack(t, lb.url, slackSecret, time.Now(), click(c.user, c.action, id, hooks.srv.URL+"/b")); code != http.StatusOK {
					t.Errorf("status %d", code)
				}
			}()
		}
		wg.Wait()
		// Every click has been answered: the winner's decision is in the
		// stream before its answer, so counting now sees any second one.
		msgs := hooks.wait(t, before+4)[before:]
		lb.rec.WaitCaughtUp(t, 10*time.Second)
		if n := lb.rec.Count(mark, func(r eventstest.Recorded) bool {
			return isDecision(r) && r.Data.(*events.Import).RequestID == id
		}); n != 1 {
			t.Errorf("%d decision events, want 1", n)
		}
		if n := decisionsFor(id); n != 1 {
			t.Errorf("%d decisions reached the importer, want 1", n)
		}
		won, already := 0, 0
		for _, m := range msgs {
			text := m["text"].(string)
			switch {
			case m["replace_original"] == true && strings.HasPrefix(text, ":white_check_mark:"):
				won++
			case strings.HasPrefix(text, "Already decided"):
				already++
			}
		}
		if won != 1 || already != 3 {
			t.Errorf("messages: %d winners, %d already-decided: %v", won, already, msgs)
		}
	})

	t.Run("refused: bad signature, stale timestamp, unknown user", func(t *testing.T) {
		const id = "ir-ccccccccccccccc3"
		lb.addRequest(t, id)
		mark := lb.rec.Mark()
		before := len(hooks.wait(t, 0))
		body := click("U0ALICE", events.SlackActionApprove, id, hooks.srv.URL+"/c")
		if code, _ := postSlack(t, lb.url, "not-the-signing-secret", time.Now(), body); code != http.StatusUnauthorized {
			t.Errorf("bad signature: %d, want 401", code)
		}
		if code, _ := postSlack(t, lb.url, slackSecret, time.Now().Add(-10*time.Minute), body); code != http.StatusUnauthorized {
			t.Errorf("stale timestamp (a replay): %d, want 401", code)
		}
		// A body altered after signing.
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		m := hmac.New(sha256.New, []byte(slackSecret))
		m.Write([]byte("v0:" + ts + ":" + body))
		req, _ := http.NewRequest(http.MethodPost, lb.url+"/slack/interactive", strings.NewReader(strings.Replace(body, "U0ALICE", "U0CAROL", 1)))
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("altered body: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		code, _ := postSlack(t, lb.url, slackSecret, time.Now(), click("U0MALLORY", events.SlackActionApprove, id, hooks.srv.URL+"/c"))
		if code != http.StatusOK {
			t.Errorf("unknown user: %d", code)
		}
		msgs := hooks.wait(t, before+1)[before:]
		if len(msgs) != 1 || msgs[0]["replace_original"] != false || !strings.Contains(msgs[0]["text"].(string), "Refused") {
			t.Errorf("unknown user's answer: %v", msgs)
		}
		lb.rec.WaitCaughtUp(t, 10*time.Second)
		if n := lb.rec.Count(mark, isDecision); n != 0 {
			t.Errorf("%d decision events after refused clicks", n)
		}
		if n := decisionsFor(id); n != 0 {
			t.Errorf("%d decisions after refused clicks", n)
		}
	})
}
