// Package sink delivers one alert to one destination: a Slack incoming
// webhook (Block Kit) or a generic HMAC-signed webhook (CloudEvents). A sink
// makes one attempt per Send; retries, rate limits and ordering belong to the
// caller, which branches on *DeliveryError.
package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/driftgate/driftgate/pkg/events"
)

// Sink sends one alert, once.
type Sink interface {
	Send(ctx context.Context, a *Alert) error
}

// Notes say what an entry of an alert announces.
const (
	NoteOpened    = "opened"    // a finding opened
	NoteChanged   = "changed"   // an open finding changed materially
	NoteReminder  = "reminder"  // a finding is still open
	NoteResolved  = "resolved"  // a finding resolved
	NoteRaised    = "raised"    // a health problem began or worsened
	NoteRecovered = "recovered" // a health problem ended
	NoteEvent     = "event"     // an import event
)

// Alert is one message to a sink: one event, or a digest of several events
// of one kind in one workspace (the findings one plan opened, the findings
// still open at a reminder).
type Alert struct {
	// ID names the alert in receipts: the id of its first event.
	ID        string
	Workspace string
	Entries   []Entry
}

// Entry is one fact of an alert.
type Entry struct {
	Note string
	// Event is the CloudEvent (redacted) and Body its structured-mode JSON,
	// as a webhook receives it. Both are empty for reminders.
	Event *cloudevents.Event
	Body  []byte
	Data  events.Data
	// Finding is set for drift entries and reminders.
	Finding *events.Finding
}

// EventIDs lists the ids of the alert's events.
func (a *Alert) EventIDs() []string {
	var ids []string
	for _, e := range a.Entries {
		if e.Event != nil {
			ids = append(ids, e.Event.ID())
		}
	}
	return ids
}

// FindingIDs lists the findings the alert is about.
func (a *Alert) FindingIDs() []string {
	var ids []string
	for _, e := range a.Entries {
		if e.Finding != nil {
			ids = append(ids, e.Finding.ID)
		}
	}
	return ids
}

// DeliveryError is a failed attempt.
type DeliveryError struct {
	StatusCode int           // 0 when no response came back
	RetryAfter time.Duration // from a 429 or 503's Retry-After header
	Permanent  bool          // retrying cannot help (4xx other than 408, 425, 429)
	Err        error
}

func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d: %v", e.StatusCode, e.Err)
	}
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// NewHTTPClient returns the client sinks share: no redirects (a redirected
// POST is an error, not a silent re-send elsewhere), per-attempt timeouts
// come from the caller's context.
func NewHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// post makes one POST and classifies the outcome. Errors never contain the
// URL: a Slack webhook URL is a secret.
func post(ctx context.Context, c *http.Client, target string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &DeliveryError{Permanent: true, Err: errors.New("build request: invalid URL")}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return &DeliveryError{Err: transportError(ctx, err)}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	de := &DeliveryError{StatusCode: resp.StatusCode, Err: errors.New(statusText(resp, snippet))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		de.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooEarly:
	case resp.StatusCode >= 300 && resp.StatusCode < 500:
		de.Permanent = true
	}
	return de
}

func statusText(resp *http.Response, snippet []byte) string {
	s := http.StatusText(resp.StatusCode)
	if b := strings.TrimSpace(string(snippet)); b != "" {
		b = strings.Join(strings.Fields(b), " ")
		if len(b) > 200 {
			b = b[:200] + "…"
		}
		s += ": " + b
	}
	return s
}

// transportError strips the URL from a client error.
func transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errors.New("timed out waiting for the response")
		}
		return ctx.Err()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s: %v", oe.Op, oe.Err)
	}
	return err
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
