package source

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
)

// Revision is the one record per workspace of the configuration revision
// in use (KV bucket driftgate-state, key source.revision.<workspace>). The
// planner writes it when a new commit is checked out whole; the planner
// plans and the importer imports with exactly this commit.
type Revision struct {
	Workspace   string    `json:"workspace"`
	URL         string    `json:"url"` // without credentials
	Ref         string    `json:"ref"`
	Path        string    `json:"path,omitempty"`
	Commit      string    `json:"commit"`
	Subject     string    `json:"subject,omitempty"` // the commit message's first line
	CommittedAt time.Time `json:"committed_at,omitzero"`
	// Previous is the commit in use before this one ("" for the first).
	Previous  string    `json:"previous,omitempty"`
	FetchedAt time.Time `json:"fetched_at"`
	// Failure is the last fetch's failure (Commit stays in use); empty
	// once a fetch succeeds again.
	Failure     string    `json:"failure,omitempty"`
	FailureKind Kind      `json:"failure_kind,omitempty"`
	FailedSince time.Time `json:"failed_since,omitzero"`
}

// Short is the commit's first 12 characters.
func (r *Revision) Short() string { return ShortSHA(r.Commit) }

// ShortSHA is a commit's first 12 characters.
func ShortSHA(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// RevisionKey is the revision record's key in the state bucket.
func RevisionKey(workspace string) string { return events.Key("source", "revision", workspace) }

// GetRevision reads a workspace's revision record; nil when there is none.
func GetRevision(ctx context.Context, kv jetstream.KeyValue, workspace string) (*Revision, error) {
	var r Revision
	_, ok, err := events.GetJSON(ctx, kv, RevisionKey(workspace), &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// PutRevision stores a workspace's revision record.
func PutRevision(ctx context.Context, kv jetstream.KeyValue, r *Revision) error {
	if r.Workspace == "" {
		return fmt.Errorf("source: revision record without a workspace")
	}
	_, err := events.PutJSON(ctx, kv, RevisionKey(r.Workspace), r)
	return err
}
