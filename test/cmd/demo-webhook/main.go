// Command demo-webhook is the signed-webhook receiver `make demo` runs: it
// verifies every request as docs/webhooks.md prescribes and prints one line
// per alert it accepted.
//
//	DRIFTGATE_WEBHOOK_SECRET=… demo-webhook --listen 127.0.0.1:8099
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8099", "address to receive webhooks on (path /hook)")
	flag.Parse()
	secret := []byte(os.Getenv("DRIFTGATE_WEBHOOK_SECRET"))
	if len(secret) == 0 {
		fmt.Fprintln(os.Stderr, "demo-webhook: DRIFTGATE_WEBHOOK_SECRET is empty")
		os.Exit(1)
	}
	http.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		body, ok := verify(secret, r)
		if !ok {
			fmt.Printf("[webhook] REJECTED request with a bad signature or stale timestamp\n")
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var batch []json.RawMessage
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents-batch+json") {
			_ = json.Unmarshal(body, &batch)
		} else {
			batch = []json.RawMessage{body}
		}
		for _, raw := range batch {
			e, d, err := events.Decode(raw)
			if err != nil {
				fmt.Printf("[webhook] signed, but not a driftgate event: %v\n", err)
				continue
			}
			fmt.Printf("[webhook] signature ok  %-28s %s\n", strings.TrimSuffix(strings.TrimPrefix(e.Type(), "dev.driftgate."), ".v1"), d.Summary())
		}
		w.WriteHeader(http.StatusNoContent)
	})
	fmt.Printf("[webhook] listening on http://%s/hook\n", *listen)
	if err := http.ListenAndServe(*listen, nil); err != nil {
		fmt.Fprintf(os.Stderr, "demo-webhook: %v\n", err)
		os.Exit(1)
	}
}

func verify(secret []byte, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	ts := r.Header.Get("X-Driftgate-Timestamp")
	sec, perr := strconv.ParseInt(ts, 10, 64)
	if err != nil || perr != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return nil, false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	return body, hmac.Equal([]byte(want), []byte(r.Header.Get("X-Driftgate-Signature")))
}
