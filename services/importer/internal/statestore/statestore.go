// Package statestore reads and restores a Terraform/OpenTofu state object in
// a versioned S3 bucket, and takes the state lock the way OpenTofu's S3
// backend does with use_lockfile (a KEY.tflock object created only if absent).
//
// Restoring a version writes its exact bytes as a new version, guarded by a
// compare-and-set on the ETag of the version the caller expects to replace,
// so a restore never overwrites a state that someone else wrote meanwhile.
package statestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Store is one state object: Bucket/Key through an S3 client.
type Store struct {
	c      *s3.Client
	bucket string
	key    string
}

// New returns the store of bucket/key.
func New(c *s3.Client, bucket, key string) *Store {
	return &Store{c: c, bucket: bucket, key: key}
}

// Bucket and Key name the state object.
func (s *Store) Bucket() string { return s.bucket }
func (s *Store) Key() string    { return s.key }

// Version is one version of the state object, or its absence.
type Version struct {
	// Exists is false when the key has no current version (empty state).
	Exists  bool   `json:"exists"`
	ID      string `json:"id,omitempty"` // S3 version id
	ETag    string `json:"etag,omitempty"`
	Serial  int64  `json:"serial"`
	Lineage string `json:"lineage,omitempty"`
	Body    []byte `json:"-"`
}

// String names the version for events and logs.
func (v Version) String() string {
	if !v.Exists {
		return "absent"
	}
	return v.ID
}

// Meta is the part of a state file that identifies it.
type Meta struct {
	Serial  int64  `json:"serial"`
	Lineage string `json:"lineage"`
}

// ParseMeta reads serial and lineage from a state file.
func ParseMeta(body []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(body, &m); err != nil {
		return m, fmt.Errorf("state file: %w", err)
	}
	return m, nil
}

// Current returns the current version with its content.
func (s *Store) Current(ctx context.Context) (Version, error) {
	return s.get(ctx, "")
}

// Get returns the version id with its content.
func (s *Store) Get(ctx context.Context, id string) (Version, error) {
	if id == "" {
		return Version{}, errors.New("state version: empty version id")
	}
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (Version, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)}
	if id != "" {
		in.VersionId = aws.String(id)
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		if id == "" && isNotFound(err) {
			return Version{}, nil
		}
		return Version{}, fmt.Errorf("get state s3://%s/%s (version %q): %w", s.bucket, s.key, id, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return Version{}, fmt.Errorf("read state s3://%s/%s: %w", s.bucket, s.key, err)
	}
	v := Version{Exists: true, ID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag), Body: body}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	m, err := ParseMeta(body)
	if err != nil {
		return Version{}, fmt.Errorf("state s3://%s/%s version %s: %w", s.bucket, s.key, v.ID, err)
	}
	v.Serial, v.Lineage = m.Serial, m.Lineage
	return v, nil
}

// ErrConflict is returned by Restore when the current version is not the
// one the caller expected to replace: someone else wrote the state.
var ErrConflict = errors.New("state object changed by another writer")

// Restore makes want the current content again, replacing exactly the
// version expect (compared by ETag; expect absent means "no current
// version"). A want that is absent deletes the object (a delete marker; every
// version stays). It reads the result back and checks that its content,
// serial and lineage are want's, and returns the new current version.
func (s *Store) Restore(ctx context.Context, want, expect Version) (Version, error) {
	cur, err := s.Current(ctx)
	if err != nil {
		return Version{}, err
	}
	if cur.Exists != expect.Exists || cur.ETag != expect.ETag || cur.ID != expect.ID {
		return Version{}, fmt.Errorf("restore state s3://%s/%s: current version is %s, expected %s: %w",
			s.bucket, s.key, cur, expect, ErrConflict)
	}
	if !want.Exists {
		if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)}); err != nil {
			return Version{}, fmt.Errorf("restore state s3://%s/%s to absent: %w", s.bucket, s.key, err)
		}
		after, err := s.Current(ctx)
		if err != nil {
			return Version{}, err
		}
		if after.Exists {
			return Version{}, fmt.Errorf("restore state s3://%s/%s to absent: version %s is current: %w", s.bucket, s.key, after, ErrConflict)
		}
		return after, nil
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.key),
		Body:          bytes.NewReader(want.Body),
		ContentLength: aws.Int64(int64(len(want.Body))),
		ContentType:   aws.String("application/json"),
	}
	if expect.Exists {
		in.IfMatch = aws.String(expect.ETag)
	} else {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := s.c.PutObject(ctx, in); err != nil {
		if isPreconditionFailed(err) {
			return Version{}, fmt.Errorf("restore state s3://%s/%s: %w", s.bucket, s.key, ErrConflict)
		}
		return Version{}, fmt.Errorf("restore state s3://%s/%s: %w", s.bucket, s.key, err)
	}
	after, err := s.Current(ctx)
	if err != nil {
		return Version{}, err
	}
	switch {
	case !bytes.Equal(after.Body, want.Body):
		return after, fmt.Errorf("restore state s3://%s/%s: version %s does not hold the restored content: %w", s.bucket, s.key, after, ErrConflict)
	case after.Serial != want.Serial || after.Lineage != want.Lineage:
		return after, fmt.Errorf("restore state s3://%s/%s: serial/lineage %d/%s, want %d/%s", s.bucket, s.key,
			after.Serial, after.Lineage, want.Serial, want.Lineage)
	}
	return after, nil
}

// Put writes body as the new current version, replacing exactly the
// version expect (a compare-and-set on its ETag), and returns the new
// version.
func (s *Store) Put(ctx context.Context, body []byte, expect Version) (Version, error) {
	m, err := ParseMeta(body)
	if err != nil {
		return Version{}, err
	}
	return s.Restore(ctx, Version{Exists: true, Body: body, Serial: m.Serial, Lineage: m.Lineage}, expect)
}

// Versions lists the ids of the object's versions, newest first, without
// delete markers and without other keys sharing the prefix.
func (s *Store) Versions(ctx context.Context) ([]string, error) {
	var ids []string
	p := s3.NewListObjectVersionsPaginator(s.c, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s/%s: %w", s.bucket, s.key, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == s.key {
				ids = append(ids, aws.ToString(v.VersionId))
			}
		}
	}
	return ids, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		return c == "PreconditionFailed" || c == "ConditionalRequestConflict" || strings.Contains(c, "Precondition")
	}
	return false
}

// SidecarSuffix is appended to the state key for the object in which a CLI
// run keeps its import journal, next to the state it protects.
const SidecarSuffix = ".driftgate-import.json"

// GetSidecar reads the sidecar object into v; ok is false when it does not
// exist.
func (s *Store) GetSidecar(ctx context.Context, v any) (bool, error) {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key + SidecarSuffix)})
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get s3://%s/%s%s: %w", s.bucket, s.key, SidecarSuffix, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("s3://%s/%s%s: %w", s.bucket, s.key, SidecarSuffix, err)
	}
	return true, nil
}

// PutSidecar writes v as the sidecar object.
func (s *Store) PutSidecar(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.key + SidecarSuffix),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s%s: %w", s.bucket, s.key, SidecarSuffix, err)
	}
	return nil
}
