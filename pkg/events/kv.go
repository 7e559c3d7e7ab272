package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KV buckets shared by the services.
const (
	BucketInventory = "driftgate-inventory" // live objects, written by the watcher
	BucketFindings  = "driftgate-findings"  // findings, written by the planner
	BucketLeases    = "driftgate-leases"    // per-workspace leases
	BucketState     = "driftgate-state"     // small per-service state (dedup marks, import journals)
)

// Buckets are the KV stores of the pipeline.
type Buckets struct {
	Inventory jetstream.KeyValue
	Findings  jetstream.KeyValue
	Leases    jetstream.KeyValue
	State     jetstream.KeyValue
}

// EnsureBuckets creates the KV buckets or updates them to their shape; a
// bucket that already has it is only opened (see EnsureStream).
func EnsureBuckets(ctx context.Context, js jetstream.JetStream, replicas int) (*Buckets, error) {
	if replicas == 0 {
		replicas = 1
	}
	// Replicated, a bucket is read from its stream leader only: a direct
	// get may be answered by a follower that has not applied the latest
	// writes yet (NATS promises no read-your-writes for it), and the
	// services decide on what they wrote a moment ago (the notifier's
	// delivery marks: a stale "open" read as "nothing new" dropped an
	// opening and, after it, its resolution during NATS node restarts).
	direct := replicas == 1
	mk := func(name, desc string, history uint8) (jetstream.KeyValue, error) {
		want := jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: history,
			Storage: jetstream.FileStorage, Replicas: replicas,
		}
		// A bucket of this shape is only looked up, as EnsureStream does.
		differs := "it does not exist"
		if kv, err := retryAPI(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, name) }); err == nil {
			st, err := retryAPI(ctx, kv.Status)
			if err != nil {
				return nil, fmt.Errorf("ensure kv bucket %s: %w", name, err)
			}
			have := st.Config()
			haveDirect := direct
			if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				haveDirect = bs.StreamInfo().Config.AllowDirect
			}
			switch {
			case have.History != want.History:
				differs = fmt.Sprintf("history %d, want %d", have.History, want.History)
			case have.Storage != want.Storage:
				differs = fmt.Sprintf("storage %s, want %s", have.Storage, want.Storage)
			case have.Replicas != want.Replicas:
				differs = fmt.Sprintf("replicas %d, want %d (nats.stream_replicas)", have.Replicas, want.Replicas)
			case have.Description != want.Description:
				differs = "description differs"
			case haveDirect != direct:
				differs = fmt.Sprintf("allow_direct %t, want %t (reads from the stream leader only when replicated)", haveDirect, direct)
			default:
				return kv, nil
			}
		} else if !errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, fmt.Errorf("ensure kv bucket %s: look it up: %w", name, err)
		}
		fail := func(err error) error {
			return fmt.Errorf("ensure kv bucket %s (%s; creating or updating it needs a NATS user allowed to, e.g. admin of deploy/nats/accounts.conf): %w",
				name, differs, err)
		}
		if direct {
			kv, err := retryAPI(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateOrUpdateKeyValue(ctx, want) })
			if err != nil {
				return nil, fail(err)
			}
			return kv, nil
		}
		// The client makes every bucket with direct gets allowed, and
		// turning them off by a stream update right after the create lost
		// the buckets: after a node was killed and the nodes restarted in
		// turn, some nodes no longer had them, and the buckets no quorum
		// (TestKVBucketsSurviveRollingRestartsLab). So the bucket's stream
		// is created as the client would create it, without direct gets, in
		// one step; a bucket of another shape is updated in one step too.
		cfg := kvStreamConfig(want)
		if _, err := retryAPI(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, cfg) }); err != nil {
			return nil, fail(err)
		}
		// Opened after: a handle reads direct or not as its stream does.
		kv, err := retryAPI(ctx, func(ctx context.Context) (jetstream.KeyValue, error) { return js.KeyValue(ctx, name) })
		if err != nil {
			return nil, fail(err)
		}
		return kv, nil
	}
	var b Buckets
	var err error
	if b.Inventory, err = mk(BucketInventory, "live objects seen by the watcher", 1); err != nil {
		return nil, err
	}
	if b.Findings, err = mk(BucketFindings, "drift findings by id", 5); err != nil {
		return nil, err
	}
	if b.Leases, err = mk(BucketLeases, "per-workspace leases", 1); err != nil {
		return nil, err
	}
	if b.State, err = mk(BucketState, "service bookkeeping", 1); err != nil {
		return nil, err
	}
	return &b, nil
}

// kvStreamConfig is the stream the KV client makes for want (nats.go's
// prepareKeyValueConfig for a bucket without TTL, limits, mirror or
// sources), without direct gets: a replicated bucket is read from its
// leader only (EnsureBuckets).
func kvStreamConfig(want jetstream.KeyValueConfig) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + want.Bucket,
		Description:       want.Description,
		Subjects:          []string{"$KV." + want.Bucket + ".>"},
		MaxMsgsPerSubject: int64(max(want.History, 1)),
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxMsgs:           -1,
		MaxConsumers:      -1,
		Storage:           want.Storage,
		Replicas:          want.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		Discard:           jetstream.DiscardNew,
		AllowDirect:       false,
	}
}

// GetJSON reads key into v; ok is false when the key does not exist.
func GetJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (rev uint64, ok bool, err error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("kv get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, false, fmt.Errorf("kv get %s: decode: %w", key, err)
	}
	return e.Revision(), true, nil
}

// PutJSON stores v under key.
func PutJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("kv put %s: encode: %w", key, err)
	}
	rev, err := kv.Put(ctx, key, b)
	if err != nil {
		return 0, fmt.Errorf("kv put %s: %w", key, err)
	}
	return rev, nil
}

// ErrLeaseHeld is returned by AcquireLease while another holder's lease is live.
var ErrLeaseHeld = errors.New("lease held by another holder")

// ErrLeaseLost is returned by Renew when the lease was taken over.
var ErrLeaseLost = errors.New("lease lost")

// Lease is a time-bound exclusive claim on a name (a workspace), kept in KV.
// A holder that crashes stops renewing; its lease expires after TTL and the
// next AcquireLease takes it over. Updates are compare-and-set on the KV
// revision, so two contenders never both win.
type Lease struct {
	kv     jetstream.KeyValue
	key    string
	holder string
	ttl    time.Duration
	rev    uint64
}

type leaseRecord struct {
	Holder   string    `json:"holder"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// AcquireLease claims name for holder for ttl, or returns ErrLeaseHeld.
func AcquireLease(ctx context.Context, kv jetstream.KeyValue, name, holder string, ttl time.Duration) (*Lease, error) {
	l := &Lease{kv: kv, key: Key(name), holder: holder, ttl: ttl}
	now := time.Now()
	rec, err := json.Marshal(leaseRecord{Holder: holder, Acquired: now, Expires: now.Add(ttl)})
	if err != nil {
		return nil, err
	}
	rev, err := kv.Create(ctx, l.key, rec)
	if err == nil {
		l.rev = rev
		return l, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		if wrongLastSeq(err) {
			// Create found the key deleted, then lost the race to recreate it
			// (a replicated bucket answers 10164, not ErrKeyExists): held.
			return nil, fmt.Errorf("%w: lost the race to create it", ErrLeaseHeld)
		}
		return nil, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	e, err := kv.Get(ctx, l.key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, ErrLeaseHeld // raced with a release and a new create; try again later
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", name, err)
	}
	var cur leaseRecord
	if json.Unmarshal(e.Value(), &cur) == nil && cur.Holder != holder && now.Before(cur.Expires) {
		return nil, fmt.Errorf("%w: %s until %s", ErrLeaseHeld, cur.Holder, cur.Expires.Format(time.RFC3339))
	}
	rev, err = kv.Update(ctx, l.key, rec, e.Revision())
	if err != nil {
		return nil, fmt.Errorf("%w: lost the takeover race", ErrLeaseHeld)
	}
	l.rev = rev
	return l, nil
}

// Holder is who holds the lease.
func (l *Lease) Holder() string { return l.holder }

// Renew extends the lease by its TTL, or returns ErrLeaseLost.
func (l *Lease) Renew(ctx context.Context) error {
	now := time.Now()
	rec, err := json.Marshal(leaseRecord{Holder: l.holder, Acquired: now, Expires: now.Add(l.ttl)})
	if err != nil {
		return err
	}
	rev, err := l.kv.Update(ctx, l.key, rec, l.rev)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrLeaseLost, l.key, err)
	}
	l.rev = rev
	return nil
}

// Release gives the lease up, if it is still ours.
func (l *Lease) Release(ctx context.Context) error {
	err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
	if err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// WithLease acquires name, runs fn with a context that is cancelled if the
// lease is lost, renews it every ttl/3 meanwhile, and releases it after.
func WithLease(ctx context.Context, kv jetstream.KeyValue, name, holder string, ttl time.Duration, fn func(context.Context) error) error {
	l, err := AcquireLease(ctx, kv, name, holder, ttl)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := l.Renew(fctx); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	err = fn(fctx)
	close(done)
	<-stopped
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer rcancel()
	_ = l.Release(rctx)
	return err
}

// wrongLastSeq reports a compare-and-set conflict: "wrong last sequence",
// 10071 from a single node, 10164 from a replicated stream.
func wrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
