package tofu

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Location is where a workspace's state object lives and how to reach it.
// The credentials are secrets: String never shows them.
type Location struct {
	Bucket    string
	Key       string
	Region    string
	Endpoint  string // empty: AWS
	PathStyle bool

	AccessKey    string
	SecretKey    string
	SessionToken string
	// Profile and SharedCredentialsFiles select shared-config credentials
	// when no key is given.
	Profile                string
	SharedCredentialsFiles []string
}

func (l Location) String() string {
	s := "s3://" + l.Bucket + "/" + l.Key
	if l.Endpoint != "" {
		s += " at " + l.Endpoint
	}
	return s
}

// Location is where workspace's state lives, with env — the environment
// the tool runs with (see Env) — filling what the configuration leaves out,
// as the tools do: region from AWS_REGION or AWS_DEFAULT_REGION (else
// us-east-1), the endpoint from AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL or
// AWS_S3_ENDPOINT (Terraform 1.5's), credentials from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, the profile from
// AWS_PROFILE.
func (b S3Backend) Location(env map[string]string, workspace string) Location {
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := env[k]; v != "" {
				return v
			}
		}
		return ""
	}
	l := Location{Bucket: b.Bucket, Key: b.StateKey(workspace), Region: b.Region, Endpoint: b.Endpoint,
		PathStyle: b.PathStyle, AccessKey: b.AccessKey, SecretKey: b.SecretKey, SessionToken: b.Token,
		Profile: b.Profile, SharedCredentialsFiles: b.SharedCredentialsFiles}
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
	if l.Profile == "" {
		l.Profile = env["AWS_PROFILE"]
	}
	return l
}

// LocationFromBackend is the state location of a backend init recorded
// (see ReadBackend): an s3 backend's configuration, env and the tool's
// workspace ("default" or empty for the default).
func LocationFromBackend(backendType string, cfg map[string]any, env map[string]string, workspace string) (Location, error) {
	if backendType != "s3" {
		return Location{}, fmt.Errorf("state location: backend %q is not s3", backendType)
	}
	b, err := ParseS3Backend(cfg)
	if err != nil {
		return Location{}, fmt.Errorf("state location: %w", err)
	}
	return b.Location(env, workspace), nil
}

// NewS3Client builds an S3 client for loc: path-style when asked, a custom
// endpoint when given, loc's credentials when set, else the SDK's default
// chain (with loc's profile and credentials files). Checksums are computed
// and validated only where S3 requires them, as S3-compatible servers
// (MinIO) expect.
func NewS3Client(ctx context.Context, loc Location) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(loc.Region)}
	if loc.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(loc.AccessKey, loc.SecretKey, loc.SessionToken)))
	}
	if loc.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(loc.Profile))
	}
	if len(loc.SharedCredentialsFiles) > 0 {
		opts = append(opts, awsconfig.WithSharedCredentialsFiles(loc.SharedCredentialsFiles))
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
