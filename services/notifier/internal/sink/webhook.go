package sink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook headers and content types (DESIGN.md, docs/webhooks.md).
const (
	HeaderTimestamp  = "X-Driftgate-Timestamp"
	HeaderSignature  = "X-Driftgate-Signature"
	ContentTypeEvent = "application/cloudevents+json"
	ContentTypeBatch = "application/cloudevents-batch+json"
	// MaxSignatureAge is how old a timestamp a receiver accepts.
	MaxSignatureAge = 5 * time.Minute
)

// Webhook POSTs the CloudEvent in structured mode, or a digest as a
// CloudEvents JSON batch, signed with HMAC-SHA256.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a webhook sink; secret comes from the environment.
func NewWebhook(url string, secret []byte, client *http.Client) *Webhook {
	return &Webhook{url: url, secret: secret, client: client, now: time.Now}
}

// Send posts the alert once.
func (w *Webhook) Send(ctx context.Context, a *Alert) error {
	body, ctype := webhookBody(a)
	if body == nil {
		return nil // nothing a machine needs (a reminder)
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	h := http.Header{}
	h.Set("Content-Type", ctype)
	h.Set("User-Agent", "driftgate-notifier")
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(w.secret, ts, body))
	return post(ctx, w.client, w.url, h, body)
}

func webhookBody(a *Alert) ([]byte, string) {
	var bodies [][]byte
	for _, e := range a.Entries {
		if e.Body != nil {
			bodies = append(bodies, e.Body)
		}
	}
	switch len(bodies) {
	case 0:
		return nil, ""
	case 1:
		return bodies[0], ContentTypeEvent
	}
	var b bytes.Buffer
	b.WriteByte('[')
	b.Write(bytes.Join(bodies, []byte{','}))
	b.WriteByte(']')
	return b.Bytes(), ContentTypeBatch
}

// Sign returns the X-Driftgate-Signature value:
// sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verification failures.
var (
	ErrBadSignature = errors.New("signature does not match")
	ErrOldTimestamp = errors.New("timestamp is missing, malformed or older than 5 minutes")
)

// Verify checks a received webhook as docs/webhooks.md tells receivers to:
// the timestamp is at most MaxSignatureAge old (and not from the future by
// more than that) and the signature matches in constant time.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrOldTimestamp
	}
	if age := now.Sub(time.Unix(sec, 0)); age > MaxSignatureAge || age < -MaxSignatureAge {
		return ErrOldTimestamp
	}
	got, ok := strings.CutPrefix(signature, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	want := Sign(secret, timestamp, body)[len("sha256="):]
	if !hmac.Equal([]byte(got), []byte(want)) {
		return ErrBadSignature
	}
	return nil
}
