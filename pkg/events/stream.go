package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamConfig shapes the DRIFTGATE stream. Zero values take the defaults.
type StreamConfig struct {
	MaxAge     time.Duration // the audit trail's reach; default 90 days
	Duplicates time.Duration // duplicate window for Nats-Msg-Id; default 2 minutes
	Replicas   int           // default 1
	Memory     bool          // memory storage, for benchmarks only
}

// Defaults of StreamConfig.
const (
	DefaultMaxAge     = 90 * 24 * time.Hour
	DefaultDuplicates = 2 * time.Minute
)

// EnsureStream creates the DRIFTGATE stream or updates it to cfg. A stream
// that already has cfg's shape is only looked up ($JS.API.STREAM.INFO), so a
// service whose NATS user may not create or update streams (the per-service
// users of deploy/nats/accounts.conf) binds to what an admin provisioned.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) (jetstream.Stream, error) {
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Duplicates == 0 {
		cfg.Duplicates = DefaultDuplicates
	}
	if cfg.Duplicates > cfg.MaxAge {
		cfg.Duplicates = cfg.MaxAge
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	want := jetstream.StreamConfig{
		Name:        StreamName,
		Description: "driftgate events: the pipeline and the audit trail",
		Subjects:    []string{StreamSubjects},
		Storage:     storage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
	}
	differs := "it does not exist"
	if s, err := retryAPI(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, StreamName) }); err == nil {
		if differs = streamDiffers(s.CachedInfo().Config, want); differs == "" {
			return s, nil
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("ensure stream %s: look it up: %w", StreamName, err)
	}
	s, err := retryAPI(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, want) })
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s (%s; creating or updating it needs a NATS user allowed to, e.g. admin of deploy/nats/accounts.conf): %w",
			StreamName, differs, err)
	}
	return s, nil
}

// streamDiffers names the first field in which have differs from want, "" when
// none does.
func streamDiffers(have, want jetstream.StreamConfig) string {
	switch {
	case len(have.Subjects) != 1 || have.Subjects[0] != want.Subjects[0]:
		return fmt.Sprintf("subjects %v, want %v", have.Subjects, want.Subjects)
	case have.Storage != want.Storage:
		return fmt.Sprintf("storage %s, want %s", have.Storage, want.Storage)
	case have.Retention != want.Retention:
		return fmt.Sprintf("retention %s, want %s", have.Retention, want.Retention)
	case have.MaxAge != want.MaxAge:
		return fmt.Sprintf("max age %s, want %s (nats.stream_max_age)", have.MaxAge, want.MaxAge)
	case have.Duplicates != want.Duplicates:
		return fmt.Sprintf("duplicate window %s, want %s (nats.duplicate_window)", have.Duplicates, want.Duplicates)
	case have.Replicas != want.Replicas:
		return fmt.Sprintf("replicas %d, want %d (nats.stream_replicas)", have.Replicas, want.Replicas)
	case have.Description != want.Description:
		return "description differs"
	}
	return ""
}

// apiAttempt bounds one request of the provisioning calls (EnsureStream,
// EnsureBuckets). A request lost on its way is never answered — seen while
// the nodes of a cluster connect and close duplicate routes — and bounded by
// the caller's deadline alone, one lost request would use all of it. The
// calls are lookups and idempotent creates or updates: they are repeated.
var apiAttempt = 10 * time.Second

// retryAPI runs call with at most apiAttempt each time, again while it times
// out and ctx lasts.
func retryAPI[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, apiAttempt)
		v, err := call(actx)
		cancel()
		timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		if err == nil || !timedOut || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
