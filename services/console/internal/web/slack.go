package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/slack-go/slack"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/imports"
)

// slackApp serves Slack's interactivity endpoint: it verifies the signing
// secret and the timestamp window (slack-go's SecretsVerifier), maps the
// Slack user to an approver, lets exactly one click per request win and
// updates the message through its response_url.
type slackApp struct {
	s         *Server
	secret    string
	approvers map[string]string
	client    *http.Client
}

func newSlackApp(s *Server, secret string, approvers []config.SlackApprover) *slackApp {
	m := map[string]string{}
	for _, a := range approvers {
		m[a.SlackUser] = a.Name
	}
	return &slackApp{s: s, secret: secret, approvers: m, client: &http.Client{Timeout: 10 * time.Second}}
}

// maxSlackBody bounds an interactivity request.
const maxSlackBody = 1 << 20

// slackClaim is the KV record that makes one click win: created only if
// absent, in the state bucket.
type slackClaim struct {
	By        string    `json:"by"`
	SlackUser string    `json:"slack_user"`
	Verb      string    `json:"verb"`
	At        time.Time `json:"at"`
}

func slackClaimKey(id string) string { return events.Key("console", "slack", id) }

func (s *Server) slackInteractive(w http.ResponseWriter, r *http.Request) {
	a := s.slack
	if a == nil {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSlackBody+1))
	if err != nil || len(body) > maxSlackBody {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, a.secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err != nil {
		s.log.Warn("console: Slack request refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "refused: the request is not signed by Slack (or too old)", http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		s.log.Warn("console: Slack payload does not parse", "err", err)
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) != 1 {
		w.WriteHeader(http.StatusOK) // not ours to act on
		return
	}
	act := cb.ActionCallback.BlockActions[0]
	verb := map[string]string{events.SlackActionApprove: imports.VerbApprove, events.SlackActionReject: imports.VerbReject}[act.ActionID]
	id := act.Value
	if verb == "" || !strings.HasPrefix(id, "ir-") {
		w.WriteHeader(http.StatusOK)
		return
	}
	name, ok := a.approvers[cb.User.ID]
	if !ok {
		s.log.Warn("console: Slack decision refused: user not in console.slack.approvers", "slack_user", cb.User.ID,
			"slack_name", cb.User.Name, "request", id, "verb", verb)
		a.respond(r.Context(), cb.ResponseURL, slackResponse{ResponseType: "ephemeral", ReplaceOriginal: false,
			Text: fmt.Sprintf("Refused: <@%s> is not an approver of driftgate imports.", cb.User.ID)})
		w.WriteHeader(http.StatusOK)
		return
	}
	text, err := a.decide(r.Context(), id, verb, name, cb.User.ID)
	if err != nil {
		s.log.Warn("console: Slack decision not taken", "user", name, "request", id, "verb", verb, "err", err)
		a.respond(r.Context(), cb.ResponseURL, slackResponse{ResponseType: "ephemeral", Text: text})
		w.WriteHeader(http.StatusOK)
		return
	}
	a.respond(r.Context(), cb.ResponseURL, slackResponse{ReplaceOriginal: true, Text: text,
		Blocks: []map[string]any{{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}}}})
	w.WriteHeader(http.StatusOK)
}

// decide lets the first click on a request win: it claims the request in
// KV (create only if absent), sends the signed decision, and gives the claim
// up again when the importer did not take it. It returns the message text.
func (a *slackApp) decide(ctx context.Context, id, verb, name, slackUser string) (string, error) {
	s := a.s
	kv, err := s.kv(ctx, events.BucketState)
	if err != nil || kv == nil {
		return "The console cannot reach its state bucket; try again.", fmt.Errorf("state bucket: %v", err)
	}
	claim := slackClaim{By: name, SlackUser: slackUser, Verb: verb, At: s.now().UTC()}
	b, _ := json.Marshal(claim)
	rev, err := kv.Create(ctx, slackClaimKey(id), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		var prev slackClaim
		_, _, _ = events.GetJSON(ctx, kv, slackClaimKey(id), &prev)
		return fmt.Sprintf("Already decided: %s was %s by %s.", id, past(prev.Verb), prev.By), errAlreadyDecided
	}
	if err != nil {
		return "The console could not record the click; try again.", err
	}
	reason := "approved in Slack"
	if verb == imports.VerbReject {
		reason = "rejected in Slack"
	}
	rep, err := s.sendDecision(ctx, id, verb, name, reason)
	if err != nil {
		// Not taken: the next click may try again.
		if derr := kv.Delete(ctx, slackClaimKey(id), jetstream.LastRevision(rev)); derr != nil {
			s.log.Warn("console: giving up a Slack claim", "request", id, "err", derr)
		}
		return fmt.Sprintf("Not %s: %v", past(verb), err), err
	}
	s.log.Info("console: decision taken in Slack", "user", name, "slack_user", slackUser, "request", id, "verb", verb)
	what := id
	if rq := rep.Request; rq != nil {
		what = fmt.Sprintf("import of %s as `%s` (%s)", rq.Object.String(), rq.Address, id)
	}
	return fmt.Sprintf(":white_check_mark: %s %s by %s (<@%s>).", strings.ToUpper(past(verb)[:1])+past(verb)[1:], what, name, slackUser), nil
}

var errAlreadyDecided = errors.New("already decided")

func past(verb string) string {
	switch verb {
	case imports.VerbApprove:
		return "approved"
	case imports.VerbReject:
		return "rejected"
	}
	return verb
}

// slackResponse is a message sent to an interaction's response_url.
type slackResponse struct {
	ResponseType    string           `json:"response_type,omitempty"`
	ReplaceOriginal bool             `json:"replace_original"`
	Text            string           `json:"text"`
	Blocks          []map[string]any `json:"blocks,omitempty"`
}

// respond posts to the interaction's response_url (Slack's hooks.slack.com
// in production). A failure is logged: the decision stands either way.
func (a *slackApp) respond(ctx context.Context, responseURL string, m slackResponse) {
	u, err := url.Parse(responseURL)
	if responseURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return
	}
	b, _ := json.Marshal(m)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(b))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		a.s.log.Warn("console: Slack response_url", "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		a.s.log.Warn("console: Slack response_url", "status", resp.StatusCode)
	}
}
