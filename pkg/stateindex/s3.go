package stateindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Location is where a workspace's state object lives. The credentials are
// secrets: String never shows them.
type Location struct {
	Bucket    string
	Key       string
	Region    string
	Endpoint  string // empty: AWS
	PathStyle bool

	AccessKey    string
	SecretKey    string
	SessionToken string
}

func (l Location) String() string {
	s := "s3://" + l.Bucket + "/" + l.Key
	if l.Endpoint != "" {
		s += " at " + l.Endpoint
	}
	return s
}

// LocationFromBackend reads the state location from an s3 backend's
// configuration (as init recorded it, see ReadBackend), understanding both
// OpenTofu's (endpoints.s3, use_path_style) and Terraform 1.5's (endpoint,
// force_path_style) spellings. env is the environment the tool runs with:
// AWS_* variables fill what the backend configuration leaves out.
// workspace is the tool's workspace ("default" or empty for the default).
func LocationFromBackend(backendType string, cfg map[string]any, env map[string]string, workspace string) (Location, error) {
	if backendType != "s3" {
		return Location{}, fmt.Errorf("state location: backend %q is not s3", backendType)
	}
	s := func(k string) string {
		v, _ := cfg[k].(string)
		return v
	}
	b := func(k string) bool {
		switch v := cfg[k].(type) {
		case bool:
			return v
		case string:
			return v == "true"
		}
		return false
	}
	l := Location{Bucket: s("bucket"), Key: s("key"), Region: s("region"), Endpoint: s("endpoint"),
		PathStyle: b("use_path_style") || b("force_path_style"),
		AccessKey: s("access_key"), SecretKey: s("secret_key"), SessionToken: s("token")}
	if eps, ok := cfg["endpoints"].(map[string]any); ok {
		if e, _ := eps["s3"].(string); e != "" {
			l.Endpoint = e
		}
	}
	if l.Bucket == "" || l.Key == "" {
		return Location{}, errors.New("state location: the s3 backend configuration has no bucket or key")
	}
	if workspace != "" && workspace != "default" {
		prefix := s("workspace_key_prefix")
		if prefix == "" {
			prefix = "env:"
		}
		l.Key = prefix + "/" + workspace + "/" + l.Key
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := env[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if l.Region == "" {
		l.Region = first("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if l.Region == "" {
		l.Region = "us-east-1"
	}
	if l.Endpoint == "" {
		l.Endpoint = first("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT")
	}
	if l.AccessKey == "" {
		l.AccessKey, l.SecretKey, l.SessionToken = env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"]
	}
	return l, nil
}

// Backend is the backend an initialized working directory uses.
type Backend struct {
	Type   string
	Config map[string]any
}

// ReadBackend reads the backend configuration init recorded in a working
// directory's data dir (dataDir/terraform.tfstate, where dataDir is the
// working dir's .terraform or $TF_DATA_DIR). The record merges the backend
// block with every -backend-config, so it is the one place that knows the
// whole location.
func ReadBackend(dataDir string) (Backend, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "terraform.tfstate"))
	if err != nil {
		return Backend{}, fmt.Errorf("read backend record: %w", err)
	}
	var rec struct {
		Backend *struct {
			Type   string         `json:"type"`
			Config map[string]any `json:"config"`
		} `json:"backend"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return Backend{}, fmt.Errorf("read backend record: %w", err)
	}
	if rec.Backend == nil || rec.Backend.Type == "" {
		return Backend{}, errors.New("read backend record: the working dir has no backend (local state cannot be indexed)")
	}
	return Backend{Type: rec.Backend.Type, Config: rec.Backend.Config}, nil
}

// S3API is the part of the S3 client a Source uses.
type S3API interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, opts ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// NewS3Client builds an S3 client for loc: path-style when asked, a custom
// endpoint when given, loc's credentials when set, else the SDK's default
// chain.
func NewS3Client(ctx context.Context, loc Location) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(loc.Region)}
	if loc.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(loc.AccessKey, loc.SecretKey, loc.SessionToken)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", loc, err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = loc.PathStyle
		if loc.Endpoint != "" {
			o.BaseEndpoint = aws.String(loc.Endpoint)
		}
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// Source keeps the index of one state object current. It is safe for
// concurrent use.
type Source struct {
	api S3API
	loc Location

	mu  sync.Mutex
	cur *Index
}

// NewSource returns a source reading loc through api (see NewS3Client).
func NewSource(api S3API, loc Location) *Source {
	return &Source{api: api, loc: loc}
}

// Location is where the source reads from.
func (s *Source) Location() Location { return s.loc }

// Current is the last loaded index, or nil before the first Load.
func (s *Source) Current() *Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Load returns the current index, reading the state object again only when
// its ETag or version differs from the last read (one HEAD request
// otherwise). changed is true when the returned index replaced another. A
// missing state object is an empty index.
func (s *Source) Load(ctx context.Context) (ix *Index, changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	head, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.loc.Bucket, Key: &s.loc.Key})
	if notFound(err) {
		if s.cur != nil && s.cur.ETag == "" && s.cur.Serial == 0 {
			return s.cur, false, nil
		}
		s.cur = Empty()
		return s.cur, true, nil
	}
	if err != nil {
		return s.cur, false, fmt.Errorf("head state %s: %w", s.loc, err)
	}
	etag, version := aws.ToString(head.ETag), aws.ToString(head.VersionId)
	if s.cur != nil && s.cur.ETag == etag && s.cur.VersionID == version {
		return s.cur, false, nil
	}
	in := &s3.GetObjectInput{Bucket: &s.loc.Bucket, Key: &s.loc.Key}
	if version != "" && version != "null" {
		in.VersionId = &version
	}
	out, err := s.api.GetObject(ctx, in)
	if notFound(err) {
		// Deleted between HEAD and GET: read again next time.
		return s.cur, false, nil
	}
	if err != nil {
		return s.cur, false, fmt.Errorf("get state %s: %w", s.loc, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return s.cur, false, fmt.Errorf("read state %s: %w", s.loc, err)
	}
	next, err := Parse(body)
	if err != nil {
		return s.cur, false, fmt.Errorf("state %s: %w", s.loc, err)
	}
	next.ETag, next.VersionID, next.LoadedAt = aws.ToString(out.ETag), aws.ToString(out.VersionId), time.Now()
	s.cur = next
	return next, true, nil
}

func notFound(err error) bool {
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
		return c == "NotFound" || c == "NoSuchKey" || strings.Contains(c, "404")
	}
	return false
}
