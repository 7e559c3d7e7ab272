package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/natslab"
)

// TestKVReadsFromTheLeaderLab: on a three-node cluster the buckets at
// replicas 3 allow no direct get (a follower may answer one before it
// applied the latest write), a bucket an older driftgate made with direct
// gets is brought to that shape, and a service reads what it just wrote
// from every node it is connected to.
func TestKVReadsFromTheLeaderLab(t *testing.T) {
	c, admin, ctx := startKVCluster(t)

	// As the client makes a bucket: direct gets allowed.
	if _, err := admin.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: events.BucketState, Description: "service bookkeeping",
		History: 1, Storage: jetstream.FileStorage, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if !allowDirect(ctx, t, admin.JS, events.BucketState) {
		t.Fatal("the client made a bucket without direct gets: the test no longer shows the upgrade")
	}
	if _, err := events.EnsureBuckets(ctx, admin.JS, 3); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{events.BucketInventory, events.BucketFindings, events.BucketLeases, events.BucketState} {
		if allowDirect(ctx, t, admin.JS, b) {
			t.Errorf("bucket %s at replicas 3 allows direct gets", b)
		}
	}

	// A service (its own NATS user, as deployed) opens the buckets as they
	// are and reads its writes back on a connection to each node.
	for i, nd := range c.Nodes {
		nc := natslab.Connect(t, nd.URL, "notifier", c.Passwords["notifier"])
		b, err := events.EnsureBuckets(ctx, nc.JS, 3)
		if err != nil {
			t.Fatal(err)
		}
		for n := range 50 {
			key := fmt.Sprintf("notifier.hook.f.node%d", i)
			want := fmt.Sprintf("v%d", n)
			if _, err := b.State.PutString(ctx, key, want); err != nil {
				t.Fatal(err)
			}
			e, err := b.State.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(e.Value()); got != want {
				t.Fatalf("node %s: read %q right after writing %q", nd.Name, got, want)
			}
		}
	}
}

// startKVCluster starts a three-node cluster with the deployed accounts and
// connects its admin user; the context ends with the test (4 minutes at
// most).
func startKVCluster(t *testing.T) (*natslab.Cluster, *natslab.Conn, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a three-node nats-server cluster")
	}
	c := natslab.Start(t, 3, filepath.Join("..", "..", "deploy", "nats", "accounts.conf"))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return c, natslab.Connect(t, c.URLs(), "admin", c.Passwords["admin"]), ctx
}

func allowDirect(ctx context.Context, t *testing.T, js jetstream.JetStream, bucket string) bool {
	t.Helper()
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config.AllowDirect
}

// TestKVBucketsSurviveRollingRestartsLab: the stream and the four buckets at
// replicas 3, provisioned as the services' admin does it, are still on every
// node and readable after each node was restarted in turn, three times over
// (the fault suite once found the buckets gone from two nodes, and with them
// quorum, after a rolling restart).
func TestKVBucketsSurviveRollingRestartsLab(t *testing.T) {
	c, admin, ctx := startKVCluster(t)
	if _, err := events.EnsureStream(ctx, admin.JS, events.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	b, err := events.EnsureBuckets(ctx, admin.JS, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.State.PutString(ctx, "notifier.hook.f.kept", "before"); err != nil {
		t.Fatal(err)
	}
	want := []string{events.StreamName, "KV_" + events.BucketInventory, "KV_" + events.BucketFindings,
		"KV_" + events.BucketLeases, "KV_" + events.BucketState}
	// As in the fault suite: writes go on, a node is killed (the meta
	// leader), then the nodes are restarted one at a time.
	wctx, wstop := context.WithCancel(ctx)
	defer wstop()
	go func() {
		for i := 0; wctx.Err() == nil; i++ {
			_, _ = b.State.PutString(wctx, fmt.Sprintf("notifier.hook.ev.e%d", i%50), fmt.Sprint(i))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if ml := c.MetaLeader(ctx); ml != nil {
		ml.Kill()
		if err := ml.Start(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 3; round++ {
		for _, nd := range c.Nodes {
			nd.Stop()
			if err := nd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.Nodes {
				waitStreams(ctx, t, n, want, fmt.Sprintf("round %d, after restarting %s", round, nd.Name))
			}
		}
		e, err := b.State.Get(ctx, "notifier.hook.f.kept")
		if err != nil || string(e.Value()) != "before" {
			t.Fatalf("round %d: read the kept key: %v", round, err)
		}
	}
}

// waitStreams waits until node reports every stream of want with a leader.
func waitStreams(ctx context.Context, t *testing.T, nd *natslab.Node, want []string, when string) {
	t.Helper()
	var have map[string]string
	for {
		have = map[string]string{}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nd.Monitor+"/jsz?streams=true&accounts=true", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var j struct {
				Accounts []struct {
					Streams []struct {
						Name    string `json:"name"`
						Cluster struct {
							Leader string `json:"leader"`
						} `json:"cluster"`
					} `json:"stream_detail"`
				} `json:"account_details"`
			}
			if json.NewDecoder(resp.Body).Decode(&j) == nil {
				for _, a := range j.Accounts {
					for _, s := range a.Streams {
						have[s.Name] = s.Cluster.Leader
					}
				}
			}
			resp.Body.Close()
		}
		ok := true
		for _, s := range want {
			if have[s] == "" {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: node %s has streams (name: leader) %v, want %v each with a leader", when, nd.Name, have, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
