package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/test/natslab"
)

// decideSubject is services/importer.DecideSubject (this module does not
// depend on the importer; TestPermsConfigNamesDecideSubject keeps them equal).
const decideSubject = "driftgate-rpc.importer.decide"

// permsUsers are the users of deploy/nats/accounts.conf; each password comes
// from DRIFTGATE_NATS_<USER>_PASSWORD.
var permsUsers = natslab.Users

// permsServer runs the nats-server of the lab's tools cache with JetStream
// and the shipped deploy/nats/accounts.conf (test/natslab); it returns the
// URL and the password of each user.
func permsServer(t *testing.T) (string, map[string]string) {
	t.Helper()
	url, pw, _ := permsServerLog(t)
	return url, pw
}

// syncBuffer is a bytes.Buffer a process writes while a test reads it.
type syncBuffer = natslab.SyncBuffer

// permsServerLog is permsServer that also returns what the server logged
// so far (it logs every permissions violation with the user's name).
func permsServerLog(t *testing.T) (string, map[string]string, func() string) {
	t.Helper()
	c := natslab.Start(t, 1, filepath.Join("..", "..", "deploy", "nats", "accounts.conf"))
	return c.Nodes[0].URL, c.Passwords, c.Nodes[0].Log.String
}

// permsConn is one user's connection and the permission violations the
// server reported on it.
type permsConn struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan string
}

func connectAs(t *testing.T, url, user, password string) *permsConn {
	t.Helper()
	c := natslab.Connect(t, url, user, password)
	return &permsConn{nc: c.NC, js: c.JS, violations: c.Violations}
}

// waitViolation waits for the server's permissions violation naming subject.
func (pc *permsConn) waitViolation(t *testing.T, subject string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case v := <-pc.violations:
			if strings.Contains(v, `"`+subject+`"`) {
				return
			}
			t.Logf("other violation: %s", v)
		case <-timeout:
			t.Fatalf("no permissions violation for %q within 10s", subject)
		}
	}
}

func publishAck(subject string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		_, err := pc.js.Publish(ctx, subject, []byte(`{"perms":"test"}`))
		return err
	}
}

// kvRawPut publishes to $KV.<bucket>.<key> and waits for the ack: what
// kv.Put does, for users that may not even look the bucket up.
func kvRawPut(bucket, key string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		_, err := pc.js.Publish(ctx, "$KV."+bucket+"."+key, []byte(`{"perms":"test"}`))
		return err
	}
}

func kvPut(bucket, key string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		kv, err := pc.js.KeyValue(ctx, bucket)
		if err != nil {
			return err
		}
		_, err = kv.Put(ctx, key, []byte(`{"perms":"test"}`))
		return err
	}
}

func kvGet(bucket, key string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		kv, err := pc.js.KeyValue(ctx, bucket)
		if err != nil {
			return err
		}
		_, err = kv.Get(ctx, key)
		return err
	}
}

// durableFetch creates (or updates) a durable pull consumer, fetches one
// event and acks it, as events.Consumer does.
func durableFetch(durable string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		c, err := pc.js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{
			Durable: durable, FilterSubjects: []string{"driftgate.object.>", "driftgate.drift.>"},
			AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			return err
		}
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if err := m.DoubleAck(ctx); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		if n == 0 {
			return fmt.Errorf("fetched nothing: %v", batch.Error())
		}
		return nil
	}
}

// slackClaim creates key in the state bucket only if absent and deletes it
// again at that revision, as the console's Slack endpoint claims a click and
// gives the claim up when the importer did not take the decision.
func slackClaim(key string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		kv, err := pc.js.KeyValue(ctx, events.BucketState)
		if err != nil {
			return err
		}
		rev, err := kv.Create(ctx, key, []byte(`{"by":"perms"}`))
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if _, err := kv.Create(ctx, key, []byte(`{"by":"second"}`)); !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("a second claim: %v, want it refused as existing", err)
		}
		if err := kv.Delete(ctx, key, jetstream.LastRevision(rev)); err != nil {
			return fmt.Errorf("give up: %w", err)
		}
		return nil
	}
}

func subscribe(subject string) func(context.Context, *permsConn) error {
	return func(ctx context.Context, pc *permsConn) error {
		sub, err := pc.nc.Subscribe(subject, func(*nats.Msg) {})
		if err != nil {
			return err
		}
		defer func() { _ = sub.Unsubscribe() }()
		// A flush round-trips after the SUB; a refusal arrives before the PONG
		// but asynchronously, so the caller waits on the violation itself.
		if err := pc.nc.FlushWithContext(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

func TestPermsConfigNamesDecideSubject(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if imports.DecideSubject != decideSubject {
		t.Fatalf("the decide RPC (pkg/imports) is %s, not %s: update this test and deploy/nats/accounts.conf", imports.DecideSubject, decideSubject)
	}
	if !bytes.Contains(b, []byte(`"`+decideSubject+`"`)) {
		t.Fatalf("deploy/nats/accounts.conf does not name %s", decideSubject)
	}
	for _, u := range permsUsers {
		ref := "$DRIFTGATE_NATS_" + strings.ToUpper(u) + "_PASSWORD"
		if !bytes.Contains(b, []byte("user: "+u+", password: "+ref)) {
			t.Errorf("user %s must take its password from %s", u, ref)
		}
	}
}

// TestPermsLab runs the shipped per-service users on a real nats-server:
// each user can do its service's work, and every forbidden publish, KV write
// or subscription is refused with a permissions violation (and, for writes,
// the value is not stored).
func TestPermsLab(t *testing.T) {
	url, pw := permsServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel) // the parallel subtests run after this function returns

	// admin provisions the stream and the buckets and seeds one event and
	// one inventory record to read.
	admin := connectAs(t, url, "admin", pw["admin"])
	if _, err := events.EnsureStream(ctx, admin.js, events.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	buckets, err := events.EnsureBuckets(ctx, admin.js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.js.Publish(ctx, "driftgate.object.changed.lab.apps.Deployment.shop.seed", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := buckets.Inventory.Put(ctx, "lab.apps.Deployment.shop.seed", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := buckets.Findings.Put(ctx, "f-seed", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	// Each service starts as it does in production: service.Prepare runs
	// EnsureStream and EnsureBuckets against what admin provisioned, and
	// binds to them with STREAM.INFO alone (no service may update a stream).
	for _, u := range []string{"watcher", "planner", "importer", "notifier", "console"} {
		pc := connectAs(t, url, u, pw[u])
		if _, err := events.EnsureStream(ctx, pc.js, events.StreamConfig{}); err != nil {
			t.Fatalf("%s: ensure stream: %v", u, err)
		}
		if _, err := events.EnsureBuckets(ctx, pc.js, 1); err != nil {
			t.Fatalf("%s: ensure buckets: %v", u, err)
		}
	}

	// The importer serves the decision RPC, as services/importer does.
	imp := connectAs(t, url, "importer", pw["importer"])
	if _, err := imp.nc.QueueSubscribe(decideSubject, "importer", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"ok":false,"error":"perms test"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := imp.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// A service configured for another shape than admin provisioned
	// refuses to start and says what differs (it may not update the stream).
	t.Run("a service may not reshape the stream", func(t *testing.T) {
		pc := connectAs(t, url, "planner", pw["planner"])
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		defer scancel()
		_, err := events.EnsureStream(sctx, pc.js, events.StreamConfig{MaxAge: time.Hour})
		if err == nil || !strings.Contains(err.Error(), "max age 2160h0m0s, want 1h0m0s") {
			t.Fatalf("EnsureStream with another max age as planner: %v", err)
		}
		pc.waitViolation(t, "$JS.API.STREAM.UPDATE."+events.StreamName)
	})

	decide := func(ctx context.Context, pc *permsConn) error {
		m, err := pc.nc.RequestWithContext(ctx, decideSubject, []byte(`{}`))
		if err != nil {
			return err
		}
		if !strings.Contains(string(m.Data), "perms test") {
			return fmt.Errorf("unexpected reply %q", m.Data)
		}
		return nil
	}
	deleteStream := func(ctx context.Context, pc *permsConn) error {
		return pc.js.DeleteStream(ctx, events.StreamName)
	}
	shortenStream := func(ctx context.Context, pc *permsConn) error {
		_, err := pc.js.UpdateStream(ctx, jetstream.StreamConfig{Name: events.StreamName, Subjects: []string{events.StreamSubjects},
			MaxAge: time.Minute})
		return err
	}
	readStream := func(ctx context.Context, pc *permsConn) error {
		c, err := pc.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return err
		}
		m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(m.Subject(), "driftgate.") {
			return fmt.Errorf("read %s", m.Subject())
		}
		return nil
	}

	const (
		request  = "importer.request.shop.r1"
		inv      = "lab.apps.Deployment.shop.web"
		finding  = "f-perms"
		changed  = "driftgate.object.changed.lab.apps.Deployment.shop.web"
		detected = "driftgate.drift.detected.shop.x"
		approved = "driftgate.import.approved.shop.x"
		alert    = "driftgate.alert.delivered.slack.x"
	)
	healthOf := func(component string) string {
		return events.NATSSubject(&events.ClusterHealth{Cluster: "lab", Component: component})
	}
	health := healthOf(events.ComponentAPIServer)
	type row struct {
		user string
		what string
		op   func(context.Context, *permsConn) error
		// denied: the server refuses this subject (publish or subscribe).
		denied string
		// notStored: after a refused KV write, bucket/key is still absent.
		notStoredBucket, notStoredKey string
	}
	kvDenied := func(user, bucket, key string) row {
		return row{user: user, what: "put " + bucket + " " + key, op: kvRawPut(bucket, key),
			denied: "$KV." + bucket + "." + key, notStoredBucket: bucket, notStoredKey: key}
	}
	pubDenied := func(user, subject string) row {
		return row{user: user, what: "publish " + subject, op: publishAck(subject), denied: subject}
	}
	rows := []row{
		// watcher
		{user: "watcher", what: "publish object.changed", op: publishAck(changed)},
		{user: "watcher", what: "publish cluster.health", op: publishAck(health)},
		{user: "watcher", what: "put inventory", op: kvPut(events.BucketInventory, inv)},
		{user: "watcher", what: "put own state", op: kvPut(events.BucketState, "watcher.node.lab.n1")},
		{user: "watcher", what: "get statekinds", op: func(ctx context.Context, pc *permsConn) error {
			err := kvGet(events.BucketState, "statekinds.shop")(ctx, pc)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil // read and answered: absent
			}
			return err
		}},
		{user: "watcher", what: "publish its own cluster.health", op: publishAck(healthOf(events.ComponentWatcher))},
		{user: "watcher", what: "read the last change of an object", op: func(ctx context.Context, pc *permsConn) error {
			_, err := events.NewPublisher(pc.js, "perms").Last(ctx, &events.ObjectChanged{Object: events.ObjectRef{
				Cluster: "lab", Group: "apps", Kind: "Deployment", Namespace: "shop", Name: "never-changed"}})
			return err
		}},
		pubDenied("watcher", healthOf(events.ComponentImporter)),
		pubDenied("watcher", detected),
		pubDenied("watcher", approved),
		kvDenied("watcher", events.BucketState, "importer.request.shop.w"),
		kvDenied("watcher", events.BucketFindings, "f-watcher"),
		{user: "watcher", what: "delete the stream", op: deleteStream, denied: "$JS.API.STREAM.DELETE.DRIFTGATE"},
		{user: "watcher", what: "shorten the audit trail", op: shortenStream, denied: "$JS.API.STREAM.UPDATE.DRIFTGATE"},
		{user: "importer", what: "shorten the audit trail", op: shortenStream, denied: "$JS.API.STREAM.UPDATE.DRIFTGATE"},
		{user: "notifier", what: "shrink the state bucket's history", op: func(ctx context.Context, pc *permsConn) error {
			_, err := pc.js.UpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketState, History: 1, MaxBytes: 1024})
			return err
		}, denied: "$JS.API.STREAM.UPDATE.KV_" + events.BucketState},
		// planner
		{user: "planner", what: "publish drift.detected", op: publishAck(detected)},
		{user: "planner", what: "put finding", op: kvPut(events.BucketFindings, finding)},
		{user: "planner", what: "put statekinds", op: kvPut(events.BucketState, "statekinds.shop")},
		{user: "planner", what: "durable consumer planner", op: durableFetch("planner")},
		{user: "planner", what: "publish its own cluster.health", op: publishAck(healthOf(events.ComponentPlanner))},
		pubDenied("planner", health),
		{user: "planner", what: "publish source.updated", op: publishAck("driftgate.source.updated.shop")},
		{user: "planner", what: "put the revision record", op: kvPut(events.BucketState, "source.revision.shop")},
		{user: "planner", what: "publish a source's health", op: publishAck(healthOf(events.ComponentSource))},
		pubDenied("planner", approved),
		kvDenied("planner", events.BucketState, "importer.request.shop.p"),
		kvDenied("planner", events.BucketInventory, "lab.apps.Deployment.shop.planner"),
		// importer
		{user: "importer", what: "put request", op: kvPut(events.BucketState, request)},
		kvDenied("importer", events.BucketState, "source.revision.shop"),
		{user: "importer", what: "publish import.approved", op: publishAck(approved)},
		{user: "importer", what: "durable consumer importer", op: durableFetch("importer")},
		{user: "importer", what: "get inventory", op: kvGet(events.BucketInventory, "lab.apps.Deployment.shop.seed")},
		{user: "importer", what: "publish its own cluster.health", op: publishAck(healthOf(events.ComponentImporter))},
		pubDenied("importer", healthOf(events.ComponentPlanner)),
		pubDenied("importer", changed),
		kvDenied("importer", events.BucketFindings, "f-importer"),
		// notifier
		{user: "notifier", what: "publish alert.delivered", op: publishAck(alert)},
		{user: "notifier", what: "put own state", op: kvPut(events.BucketState, "notifier.slack.ev.e1")},
		{user: "notifier", what: "durable consumer notifier-slack", op: durableFetch("notifier-slack")},
		{user: "notifier", what: "get finding", op: func(ctx context.Context, pc *permsConn) error {
			err := kvGet(events.BucketFindings, "f-absent")(ctx, pc)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				return nil
			}
			return err
		}},
		kvDenied("notifier", events.BucketFindings, "f-notifier"),
		kvDenied("notifier", events.BucketState, "importer.request.shop.n"),
		pubDenied("notifier", detected),
		pubDenied("notifier", approved),
		{user: "notifier", what: "take over the planner's consumer", op: durableFetch("planner"),
			denied: "$JS.API.CONSUMER.CREATE.DRIFTGATE.planner"},
		// approver
		{user: "approver", what: "decision RPC and its reply", op: decide},
		pubDenied("approver", approved),
		pubDenied("approver", changed),
		kvDenied("approver", events.BucketState, "importer.request.shop.a"),
		{user: "approver", what: "serve the decision RPC", op: subscribe(decideSubject), denied: decideSubject},
		{user: "approver", what: "read a KV key", op: kvGet(events.BucketState, request), denied: "$JS.API.STREAM.INFO.KV_driftgate-state"},
		// reader
		{user: "reader", what: "get inventory", op: kvGet(events.BucketInventory, "lab.apps.Deployment.shop.seed")},
		{user: "reader", what: "read the stream", op: readStream},
		pubDenied("reader", changed),
		pubDenied("reader", approved),
		kvDenied("reader", events.BucketInventory, "lab.apps.Deployment.shop.reader"),
		kvDenied("reader", events.BucketState, "importer.request.shop.r"),
		{user: "reader", what: "decision RPC", op: publishAck(decideSubject), denied: decideSubject},
		{user: "reader", what: "delete the stream", op: deleteStream, denied: "$JS.API.STREAM.DELETE.DRIFTGATE"},
		{user: "reader", what: "subscribe to live events", op: subscribe("driftgate.>"), denied: "driftgate.>"},
		// console: reads like reader, decides through the RPC, claims Slack
		// clicks under its own keys, and nothing else.
		{user: "console", what: "get finding", op: kvGet(events.BucketFindings, "f-seed")},
		{user: "console", what: "read the stream", op: readStream},
		{user: "console", what: "decision RPC and its reply", op: decide},
		{user: "console", what: "claim a Slack click and give it up", op: slackClaim("console.slack.ir-perms")},
		pubDenied("console", approved),
		pubDenied("console", changed),
		kvDenied("console", events.BucketState, "importer.request.shop.c"),
		kvDenied("console", events.BucketFindings, "f-console"),
		kvDenied("console", events.BucketState, "notifier.slack.ev.c"),
		{user: "console", what: "serve the decision RPC", op: subscribe(decideSubject), denied: decideSubject},
	}

	var mu sync.Mutex
	counts := map[string]int{}
	for _, r := range rows {
		t.Run(r.user+"/"+r.what, func(t *testing.T) {
			t.Parallel()
			pc := connectAs(t, url, r.user, pw[r.user])
			if r.denied == "" {
				octx, ocancel := context.WithTimeout(ctx, 15*time.Second)
				defer ocancel()
				if err := r.op(octx, pc); err != nil {
					t.Fatalf("%s as %s: %v", r.what, r.user, err)
				}
				mu.Lock()
				counts["allowed"]++
				mu.Unlock()
				return
			}
			octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
			done := make(chan error, 1)
			go func() { done <- r.op(octx, pc) }()
			pc.waitViolation(t, r.denied)
			ocancel() // the refusal is on record; stop waiting for an ack that cannot come
			if err := <-done; err == nil {
				t.Fatalf("%s as %s succeeded after a permissions violation", r.what, r.user)
			}
			if r.notStoredBucket != "" {
				kv, err := admin.js.KeyValue(ctx, r.notStoredBucket)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := kv.Get(ctx, r.notStoredKey); !errors.Is(err, jetstream.ErrKeyNotFound) {
					t.Fatalf("%s/%s: a refused write is stored (or the read failed): %v", r.notStoredBucket, r.notStoredKey, err)
				}
			}
			mu.Lock()
			counts["denied"]++
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		t.Logf("perms: %d allowed operations worked, %d forbidden ones refused", counts["allowed"], counts["denied"])
	})

	t.Run("wrong password", func(t *testing.T) {
		if _, err := nats.Connect(url, nats.UserInfo("watcher", "not-the-password")); err == nil {
			t.Fatal("connected with a wrong password")
		}
		if _, err := nats.Connect(url); err == nil {
			t.Fatal("connected anonymously")
		}
	})
}
