package e2e

import (
	"context"
	"fmt"
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
	if testing.Short() {
		t.Skip("starts a three-node nats-server cluster")
	}
	c := natslab.Start(t, 3, filepath.Join("..", "..", "deploy", "nats", "accounts.conf"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := natslab.Connect(t, c.URLs(), "admin", c.Passwords["admin"])

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

func allowDirect(ctx context.Context, t *testing.T, js jetstream.JetStream, bucket string) bool {
	t.Helper()
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	return s.CachedInfo().Config.AllowDirect
}
