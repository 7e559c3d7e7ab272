package tofu

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// LockSuffix is what OpenTofu's S3 backend appends to the state key for its
// lock object (use_lockfile = true).
const LockSuffix = ".tflock"

// Lock is a held state lock.
type Lock struct {
	s    *Store
	info LockInfo
}

// Info is what the lock object says.
func (l *Lock) Info() LockInfo { return l.info }

// LockKey is the key of the state object's lock object.
func (s *Store) LockKey() string { return s.key + LockSuffix }

// Lock creates the lock object if it does not exist, the way OpenTofu's S3
// backend does (a conditional create), or returns a *LockedError naming the
// holder. It never breaks someone else's lock.
func (s *Store) Lock(ctx context.Context, operation, who, info string) (*Lock, error) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	li := LockInfo{
		ID: hex.EncodeToString(id), Operation: operation, Info: info, Who: who,
		Version: "driftgate", Created: time.Now().UTC(), Path: s.bucket + "/" + s.key,
	}
	body, err := json.Marshal(li)
	if err != nil {
		return nil, err
	}
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.LockKey()),
		Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		if isPreconditionFailed(err) {
			holder, herr := s.LockHolder(ctx)
			return nil, &LockedError{Holder: holder, Err: errors.Join(err, herr)}
		}
		return nil, fmt.Errorf("lock state %s: %w", s.lockURL(), err)
	}
	return &Lock{s: s, info: li}, nil
}

// Adopt returns the lock described by info as held by the caller: only for
// a lock this program took before it crashed (its id is in the journal).
func (s *Store) Adopt(info LockInfo) *Lock { return &Lock{s: s, info: info} }

// LockHolder reads the lock object; zero LockInfo when there is none.
func (s *Store) LockHolder(ctx context.Context) (LockInfo, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.LockKey())})
	if err != nil {
		if isNotFound(err) {
			return LockInfo{}, nil
		}
		return LockInfo{}, fmt.Errorf("read lock %s: %w", s.lockURL(), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return LockInfo{}, err
	}
	var li LockInfo
	if err := json.Unmarshal(b, &li); err != nil {
		return LockInfo{}, fmt.Errorf("lock %s: %w", s.lockURL(), err)
	}
	return li, nil
}

// Unlock deletes the lock object if it is still ours.
func (l *Lock) Unlock(ctx context.Context) error {
	cur, err := l.s.LockHolder(ctx)
	if err != nil {
		return err
	}
	if cur.ID != l.info.ID {
		return fmt.Errorf("unlock %s: the lock is %q, not ours (%s)", l.s.lockURL(), cur.ID, l.info.ID)
	}
	if _, err := l.s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(l.s.bucket), Key: aws.String(l.s.LockKey())}); err != nil {
		return fmt.Errorf("unlock %s: %w", l.s.lockURL(), err)
	}
	return nil
}

func (s *Store) lockURL() string { return "s3://" + s.bucket + "/" + s.LockKey() }
