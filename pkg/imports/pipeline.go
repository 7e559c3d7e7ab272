package imports

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
)

// ErrNoFindings is returned by ReportFromPipeline when the server has no
// findings bucket yet.
var ErrNoFindings = errors.New("no findings bucket on this server yet (has the planner run?)")

// ReportFromPipeline builds a workspace's decision table from a running
// pipeline: its open findings, the inventory's records of their objects and
// the importer's requests (driftgate report without --config, the console).
func ReportFromPipeline(ctx context.Context, js jetstream.JetStream, ws string) (Report, error) {
	fkv, err := js.KeyValue(ctx, events.BucketFindings)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return Report{}, ErrNoFindings
	}
	if err != nil {
		return Report{}, fmt.Errorf("report: findings bucket: %w", err)
	}
	fs, err := findings.Store{KV: fkv}.List(ctx, findings.Filter{Workspace: ws, State: events.StateOpen})
	if err != nil {
		return Report{}, err
	}
	in := ReportInput{Workspace: ws, Findings: fs, Inventory: map[string]*events.InventoryRecord{},
		Source: "the pipeline's findings and rolled-back imports"}
	if ikv, err := js.KeyValue(ctx, events.BucketInventory); err == nil {
		for _, f := range fs {
			var rec events.InventoryRecord
			if _, ok, err := events.GetJSON(ctx, ikv, events.InventoryKey(f.Object), &rec); err == nil && ok {
				in.Inventory[events.InventoryKey(f.Object)] = &rec
			}
		}
	}
	if skv, err := js.KeyValue(ctx, events.BucketState); err == nil {
		if in.Requests, err = ListRequests(ctx, skv, ws); err != nil {
			return Report{}, err
		}
	}
	return BuildReport(in), nil
}
