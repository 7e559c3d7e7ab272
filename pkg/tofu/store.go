package tofu

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

// S3API is the part of the S3 client a Store uses (*s3.Client has it).
type S3API interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// Store is one state object, bucket/key, in a (versioned) S3 bucket: read
// by version, restored to a version, and locked the way OpenTofu's s3
// backend does with use_lockfile (see Lock).
type Store struct {
	c      S3API
	bucket string
	key    string
}

// NewStore returns the store of bucket/key (see NewS3Client).
func NewStore(c S3API, bucket, key string) *Store {
	return &Store{c: c, bucket: bucket, key: key}
}

// Bucket and Key name the state object.
func (s *Store) Bucket() string { return s.bucket }
func (s *Store) Key() string    { return s.key }

func (s *Store) String() string { return "s3://" + s.bucket + "/" + s.key }

// Version is one version of the state object, or its absence.
type Version struct {
	// Exists is false when the key has no current version (empty state).
	Exists  bool   `json:"exists"`
	ID      string `json:"id,omitempty"` // S3 version id ("" or "null" when unversioned)
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

// ErrVersionGone is a version that no longer exists (deleted since it was
// listed or headed).
var ErrVersionGone = errors.New("state version not found")

// Head returns the current version without its content (one HEAD
// request); absent when there is none.
func (s *Store) Head(ctx context.Context) (Version, error) {
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)})
	if isNotFound(err) {
		return Version{}, nil
	}
	if err != nil {
		return Version{}, fmt.Errorf("head state %s: %w", s, err)
	}
	return Version{Exists: true, ID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag)}, nil
}

// Current returns the current version with its content.
func (s *Store) Current(ctx context.Context) (Version, error) {
	return s.get(ctx, "")
}

// Get returns the version id with its content; ErrVersionGone when it no
// longer exists.
func (s *Store) Get(ctx context.Context, id string) (Version, error) {
	if id == "" {
		return Version{}, errors.New("state version: empty version id")
	}
	return s.get(ctx, id)
}

func (s *Store) get(ctx context.Context, id string) (Version, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.key)}
	if id != "" && id != "null" {
		in.VersionId = aws.String(id)
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			if id == "" {
				return Version{}, nil
			}
			err = errors.Join(ErrVersionGone, err)
		}
		return Version{}, fmt.Errorf("get state %s (version %q): %w", s, id, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return Version{}, fmt.Errorf("read state %s: %w", s, err)
	}
	v := Version{Exists: true, ID: aws.ToString(out.VersionId), ETag: aws.ToString(out.ETag), Body: body}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, nil
	}
	m, err := ParseMeta(body)
	if err != nil {
		return Version{}, fmt.Errorf("state %s version %s: %w", s, v.ID, err)
	}
	v.Serial, v.Lineage = m.Serial, m.Lineage
	return v, nil
}

// Versions lists the ids of the object's versions, newest first, without
// delete markers and without other keys sharing the prefix.
func (s *Store) Versions(ctx context.Context) ([]string, error) {
	var ids []string
	p := s3.NewListObjectVersionsPaginator(s.c, &s3.ListObjectVersionsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", s, err)
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
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		return c == "NotFound" || c == "NoSuchKey" || c == "NoSuchVersion" || strings.Contains(c, "404")
	}
	return false
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		c := ae.ErrorCode()
		return c == "PreconditionFailed" || c == "ConditionalRequestConflict" || strings.Contains(c, "Precondition")
	}
	return false
}
