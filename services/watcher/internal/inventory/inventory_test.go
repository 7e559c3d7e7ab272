package inventory_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/services/watcher/internal/inventory"
	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

const canary = "canary-7d1e-inventory"

func secret(t *testing.T, name string) *snapshot.Snapshot {
	t.Helper()
	u := &unstructured.Unstructured{}
	y := `{apiVersion: v1, kind: Secret, metadata: {name: ` + name + `, namespace: shop, uid: u-` + name + `, resourceVersion: "3", labels: {app: db},
	  managedFields: [{manager: terraform, operation: Update, apiVersion: v1, time: "2026-01-01T00:00:00Z", fieldsType: FieldsV1, fieldsV1: {f:data: {f:password: {}}}}]},
	  data: {password: ` + base64.StdEncoding.EncodeToString([]byte(canary)) + `}, type: Opaque}`
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	s, err := snapshot.NewBuilder(false).Build(u, true)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreRoundTrip(t *testing.T) {
	env := eventstest.Start(t)
	ctx := context.Background()
	st := inventory.NewStore(env.Buckets.Inventory)
	gv := schema.GroupVersion{Version: "v1"}
	now := time.Now()
	for _, c := range []string{"lab", "lab.other"} {
		for _, n := range []string{"db", "cache"} {
			if err := st.Put(ctx, inventory.FromSnapshot(c, "secrets", gv, secret(t, n), now)); err != nil {
				t.Fatal(err)
			}
		}
	}
	recs, err := st.Load(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("loaded %d records of cluster lab, want 2", len(recs))
	}
	r := recs[0]
	if r.Object.Cluster != "lab" || r.Resource != "secrets" || r.ResourceVersion != "3" || r.FieldOwners["data.password"].Manager != "terraform" {
		t.Fatalf("record %+v", r.InventoryRecord)
	}
	if h, ok := r.Fingerprint["data.password"]; !ok || h != 0 {
		t.Fatalf("a secret's value hash is stored: %d", h)
	}
	snap, stamps := r.Snapshot()
	if snap.Name != r.Object.Name || stamps["data.password"].Manager != "terraform" || snap.Kind != "Secret" {
		t.Fatalf("restored snapshot %+v, stamps %v", snap.Meta, stamps)
	}

	// What other services read: a plain InventoryRecord.
	var plain events.InventoryRecord
	if _, ok, err := events.GetJSON(ctx, env.Buckets.Inventory, events.InventoryKey(r.Object), &plain); err != nil || !ok || plain.Object.UID == "" {
		t.Fatalf("plain read: ok=%v err=%v %+v", ok, err, plain)
	}

	// No trace of the secret anywhere in the bucket.
	keys, err := env.Buckets.Inventory.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		e, err := env.Buckets.Inventory.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if v := string(e.Value()); strings.Contains(v, canary) || strings.Contains(v, base64.StdEncoding.EncodeToString([]byte(canary))) {
			t.Fatalf("record %s holds the secret: %s", k, v)
		}
	}

	// What a restarted watcher reads of each record, and a record again.
	var entries []inventory.Entry
	if err := st.Entries(ctx, "lab", func(e *inventory.Entry) { entries = append(entries, *e) }); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Object != recs[0].Object || entries[0].ResourceVersion != "3" ||
		entries[0].Resource != "secrets" || entries[0].Labels["app"] != "db" {
		t.Fatalf("entries %+v", entries)
	}
	got, err := st.Get(ctx, r.Object)
	if err != nil || got == nil || got.FieldOwners["data.password"].Manager != "terraform" || got.Object != r.Object {
		t.Fatalf("get: %+v, %v", got, err)
	}

	if err := st.Delete(ctx, r.Object); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Get(ctx, r.Object); got != nil || err != nil {
		t.Fatalf("get after delete: %+v, %v", got, err)
	}
	if err := st.Delete(ctx, r.Object); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if recs, _ := st.Load(ctx, "lab"); len(recs) != 1 {
		t.Fatalf("after delete: %d records", len(recs))
	}
}
