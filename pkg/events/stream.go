package events

import (
	"context"
	"fmt"
	"time"

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

// EnsureStream creates the DRIFTGATE stream or updates it to cfg.
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
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "driftgate events: the pipeline and the audit trail",
		Subjects:    []string{StreamSubjects},
		Storage:     storage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      cfg.MaxAge,
		Duplicates:  cfg.Duplicates,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return s, nil
}
