package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

// natsCLI runs the stock `nats` CLI (natscli, from the lab's tools cache)
// against url with args, isolated from the user's nats contexts; it returns
// the combined output and the error of the run.
func natsCLI(t *testing.T, url string, args ...string) (string, error) {
	t.Helper()
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Check(tools.NATSCLI); err != nil {
		t.Fatalf("the nats CLI is missing (make tools builds it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.NATSCLI, append([]string{"--server", url, "--timeout", "3s"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPermsNATSCLI is the foreign client's view of deploy/nats/accounts.conf
// on a real nats-server: each service's user, through the stock `nats` CLI
// with --user/--password, is refused what its service must not do (publish
// another service's events, write another service's keys, edit or delete
// the stream) with the server's permissions violation, and nothing it was
// refused is stored; the same CLI with the same users does what the
// services do.
func TestPermsNATSCLI(t *testing.T) {
	url, pw := permsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	admin := connectAs(t, url, "admin", pw["admin"])
	if _, err := events.EnsureStream(ctx, admin.js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	buckets, err := events.EnsureBuckets(ctx, admin.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buckets.Inventory.Put(ctx, "lab.v1.ConfigMap.shop.seed", []byte(`{"seed":true}`)); err != nil {
		t.Fatal(err)
	}
	stream, err := admin.js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}

	const (
		changed  = "driftgate.object.changed.lab.v1.ConfigMap.shop.cli"
		detected = "driftgate.drift.detected.shop.cli"
		approved = "driftgate.import.approved.shop.cli"
		request  = "importer.request.shop.ir-cli"
	)
	type row struct {
		user string
		args []string
		// denied is the subject the server must refuse; "" for allowed.
		denied string
		// kept checks, after a refused write, that nothing was stored.
		kept func() error
	}
	absentKey := func(kv jetstream.KeyValue, key string) func() error {
		return func() error {
			if _, err := kv.Get(ctx, key); !errors.Is(err, jetstream.ErrKeyNotFound) {
				return fmt.Errorf("%s/%s is stored (or unreadable: %v)", kv.Bucket(), key, err)
			}
			return nil
		}
	}
	absentMsg := func(subject string) func() error {
		return func() error {
			if m, err := stream.GetLastMsgForSubject(ctx, subject); !errors.Is(err, jetstream.ErrMsgNotFound) {
				return fmt.Errorf("a message on %s is in the stream (%v, %v)", subject, m, err)
			}
			return nil
		}
	}
	pub := func(user, subject string) row {
		subject += "." + user // each refusal its own subject: the watcher may publish changed
		return row{user: user, args: []string{"pub", subject, `{"specversion":"1.0","source":"driftgate/planner/forged"}`},
			denied: subject, kept: absentMsg(subject)}
	}
	kvPut := func(user string, kv jetstream.KeyValue, key string) row {
		return row{user: user, args: []string{"kv", "put", kv.Bucket(), key, `{"status":"approved","by":"mallory"}`},
			denied: "$KV." + kv.Bucket() + "." + key, kept: absentKey(kv, key)}
	}
	maxAge := func() error {
		info, err := stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.Config.MaxAge != events.DefaultMaxAge {
			return fmt.Errorf("the stream's max age is %s", info.Config.MaxAge)
		}
		return nil
	}
	editStream := func(user string) row {
		return row{user: user, args: []string{"stream", "edit", events.StreamName, "--max-age", "1m", "-f"},
			denied: "$JS.API.STREAM.UPDATE." + events.StreamName, kept: maxAge}
	}
	rmStream := func(user string) row {
		return row{user: user, args: []string{"stream", "rm", events.StreamName, "-f"},
			denied: "$JS.API.STREAM.DELETE." + events.StreamName, kept: maxAge}
	}
	rows := []row{
		// What the services do, through the same CLI.
		{user: "watcher", args: []string{"pub", changed, "{}"}},
		{user: "importer", args: []string{"kv", "put", events.BucketState, request, `{"status":"pending"}`}},
		{user: "reader", args: []string{"kv", "get", events.BucketInventory, "lab.v1.ConfigMap.shop.seed", "--raw"}},
		{user: "reader", args: []string{"stream", "info", events.StreamName}},

		pub("watcher", detected), pub("watcher", approved),
		kvPut("watcher", buckets.State, "importer.request.shop.ir-watcher"), kvPut("watcher", buckets.Findings, "f-watcher"),
		editStream("watcher"),

		pub("planner", approved), pub("planner", changed),
		kvPut("planner", buckets.State, "importer.request.shop.ir-planner"), kvPut("planner", buckets.Inventory, "lab.v1.ConfigMap.shop.planner"),
		editStream("planner"),

		pub("importer", changed), pub("importer", detected),
		kvPut("importer", buckets.Findings, "f-importer"), kvPut("importer", buckets.Inventory, "lab.v1.ConfigMap.shop.importer"),
		editStream("importer"), rmStream("importer"),

		pub("notifier", detected), pub("notifier", approved),
		kvPut("notifier", buckets.Findings, "f-notifier"), kvPut("notifier", buckets.State, "importer.request.shop.ir-notifier"),
		editStream("notifier"),

		pub("approver", approved), pub("approver", changed),
		// The approver may not even look the bucket up.
		{user: "approver", args: []string{"kv", "put", events.BucketState, "importer.request.shop.ir-approver", "{}"},
			denied: "$JS.API.STREAM.INFO.KV_" + events.BucketState, kept: absentKey(buckets.State, "importer.request.shop.ir-approver")},
		{user: "approver", args: []string{"kv", "get", events.BucketState, request}, denied: "$JS.API.STREAM.INFO.KV_" + events.BucketState},
		{user: "approver", args: []string{"stream", "edit", events.StreamName, "--max-age", "1m", "-f"},
			denied: "$JS.API.STREAM.INFO." + events.StreamName, kept: maxAge},

		pub("reader", changed), pub("reader", approved),
		kvPut("reader", buckets.Inventory, "lab.v1.ConfigMap.shop.reader"), kvPut("reader", buckets.State, "importer.request.shop.ir-reader"),
		editStream("reader"), rmStream("reader"),
	}
	var mu sync.Mutex
	allowed, denied := 0, 0
	for _, r := range rows {
		name := r.user + "/" + strings.Join(r.args[:min(len(r.args), 3)], " ")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--user", r.user, "--password", pw[r.user]}, r.args...)
			out, err := natsCLI(t, url, args...)
			if r.denied == "" {
				if err != nil {
					t.Fatalf("nats %s as %s: %v\n%s", strings.Join(r.args, " "), r.user, err, out)
				}
				mu.Lock()
				allowed++
				mu.Unlock()
				return
			}
			if err == nil {
				t.Errorf("nats %s as %s exited 0:\n%s", strings.Join(r.args, " "), r.user, out)
			}
			if want := `Permissions Violation for Publish to "` + r.denied + `"`; !strings.Contains(out, want) {
				t.Errorf("nats %s as %s: no %s in its output:\n%s", strings.Join(r.args, " "), r.user, want, out)
			}
			if r.kept != nil {
				if err := r.kept(); err != nil {
					t.Error(err)
				}
			}
			mu.Lock()
			denied++
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		t.Logf("nats CLI: %d allowed operations worked, %d forbidden ones refused by the server", allowed, denied)
	})
	t.Run("anonymous and wrong password", func(t *testing.T) {
		for _, args := range [][]string{{"pub", changed, "{}"}, {"--user", "watcher", "--password", "guess", "pub", changed, "{}"}} {
			out, err := natsCLI(t, url, args...)
			if err == nil || !strings.Contains(out, "Authorization Violation") {
				t.Errorf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
}
