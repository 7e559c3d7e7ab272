package tofu_test

import (
	"context"
	"errors"
	"testing"

	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

// TestStoreLab reads, restores and locks a state object in the lab's
// versioned MinIO bucket: a lock held by someone else is a *LockedError
// naming the holder and is never broken, and a restore replaces only the
// version the caller expects.
func TestStoreLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	l := lab.Start(t, lab.WithoutKubernetes())
	ctx := context.Background()
	be, err := tofu.ParseBackendConfig(map[string]string{"bucket": l.S3.Bucket, "key": "store/terraform.tfstate",
		"endpoints": `{ s3 = "` + l.S3.Endpoint + `" }`, "use_path_style": "true", "use_lockfile": "true"})
	if err != nil || !be.UseLockfile {
		t.Fatalf("%+v %v", be, err)
	}
	loc := be.Location(map[string]string{"AWS_ACCESS_KEY_ID": l.S3.AccessKey, "AWS_SECRET_ACCESS_KEY": l.S3.SecretKey, "AWS_REGION": l.S3.Region}, "")
	client, err := tofu.NewS3Client(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	s := tofu.NewStore(client, loc.Bucket, loc.Key)

	if v, err := s.Head(ctx); err != nil || v.Exists {
		t.Fatalf("missing state: %+v %v", v, err)
	}
	v1, err := s.Put(ctx, []byte(`{"version": 4, "serial": 1, "lineage": "l"}`), tofu.Version{})
	if err != nil || !v1.Exists || v1.Serial != 1 || v1.ID == "" {
		t.Fatalf("put: %+v %v", v1, err)
	}
	if h, err := s.Head(ctx); err != nil || h.ETag != v1.ETag || h.ID != v1.ID {
		t.Fatalf("head %+v, want %+v (%v)", h, v1, err)
	}
	v2, err := s.Put(ctx, []byte(`{"version": 4, "serial": 2, "lineage": "l"}`), v1)
	if err != nil || v2.Serial != 2 {
		t.Fatalf("put: %+v %v", v2, err)
	}
	if _, err := s.Restore(ctx, v1, v1); !errors.Is(err, tofu.ErrConflict) {
		t.Fatalf("restore against a stale version: %v, want a conflict", err)
	}
	// The content of v1 comes back at serial 3: a serial never goes back.
	back, err := s.Restore(ctx, v1, v2)
	if err != nil || back.Serial != 3 || back.Lineage != "l" || back.ID == v1.ID || !tofu.SameContent(back.Body, v1.Body) {
		t.Fatalf("restore: %+v %s %v", back, back.Body, err)
	}
	if ids, err := s.Versions(ctx); err != nil || len(ids) != 3 {
		t.Fatalf("versions %v %v", ids, err)
	}

	held, err := s.Lock(ctx, "OperationTypeApply", "ci@runner", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Lock(ctx, "driftgate-import", "driftgate", "")
	var le *tofu.LockedError
	if !errors.As(err, &le) || le.Holder.Who != "ci@runner" || le.Holder.ID != held.Info().ID {
		t.Fatalf("second lock: %v, want a *LockedError naming ci@runner", err)
	}
	if !errors.Is(tofu.Classify(ctx, "w", "lock", err), tofu.ErrLock) {
		t.Fatal("a held lock object must classify as a lock")
	}
	// Unlocking is only for the holder: a lock that is not ours stays.
	if err := s.Adopt(tofu.LockInfo{ID: "not-the-holder"}).Unlock(ctx); err == nil {
		t.Fatal("unlocked someone else's lock")
	}
	if h, err := s.LockHolder(ctx); err != nil || h.ID != held.Info().ID {
		t.Fatalf("lock holder %+v %v, want the lock untouched", h, err)
	}
	if err := held.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if h, err := s.LockHolder(ctx); err != nil || h.ID != "" {
		t.Fatalf("lock holder after unlock: %+v %v", h, err)
	}
}
