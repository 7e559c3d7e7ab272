package live

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Inventory is a classify.Live over the watcher's inventory bucket.
type Inventory struct {
	KV jetstream.KeyValue
}

// Get reads o's inventory record. An object state names through an older
// API group (extensions Ingress) is looked up under its current group too.
func (i Inventory) Get(ctx context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	groups := []string{o.Group}
	if g := tfkube.CanonicalGroup(o.Group, o.Kind); g != o.Group {
		groups = []string{g, o.Group}
	}
	for _, g := range groups {
		ref := o
		ref.Group = g
		var rec events.InventoryRecord
		_, ok, err := events.GetJSON(ctx, i.KV, events.InventoryKey(ref), &rec)
		if err != nil {
			return nil, false, fmt.Errorf("inventory: %w", err)
		}
		if ok {
			return &rec, true, nil
		}
	}
	return nil, false, nil
}

// Keys lists the objects in the inventory of cluster (their keys decoded).
func (i Inventory) Keys(ctx context.Context, cluster string) ([]events.ObjectRef, error) {
	lister, err := i.KV.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("inventory: list keys: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var out []events.ObjectRef
	for k := range lister.Keys() {
		parts, err := events.SplitKey(k)
		if err != nil || len(parts) != 5 || parts[0] != cluster {
			continue
		}
		out = append(out, events.ObjectRef{Cluster: parts[0], Group: parts[1], Kind: parts[2], Namespace: parts[3], Name: parts[4]})
	}
	return out, nil
}
