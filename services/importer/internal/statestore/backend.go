package statestore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/driftgate/driftgate/pkg/config"
)

// Backend is what driftgate needs from a workspace's S3 backend settings
// (the backend_config map passed to init as -backend-config=NAME=VALUE).
type Backend struct {
	Bucket       string
	Key          string
	Region       string
	Endpoint     string // empty: the SDK's default resolution (AWS_ENDPOINT_URL_S3, AWS)
	PathStyle    bool
	UseLockfile  bool   // OpenTofu's native S3 lock object
	DynamoDB     string // a DynamoDB lock table (not supported for restores)
	AccessKey    string
	SecretKey    string
	SessionToken string
}

var hclS3Endpoint = regexp.MustCompile(`s3\s*=\s*"([^"]*)"`)

// ParseBackend reads the S3 settings out of a backend_config map. Values may
// be written as HCL (quoted strings, { s3 = "..." } for endpoints), as the
// lab and tofu's .tfbackend files write them.
func ParseBackend(m map[string]string) (Backend, error) {
	get := func(k string) string { return config.BackendValue(m[k]) }
	b := Backend{
		Bucket: get("bucket"), Key: get("key"), Region: get("region"),
		Endpoint: get("endpoint"), DynamoDB: get("dynamodb_table"),
		AccessKey: get("access_key"), SecretKey: get("secret_key"), SessionToken: get("token"),
	}
	if e := m["endpoints"]; e != "" {
		if sm := hclS3Endpoint.FindStringSubmatch(e); sm != nil {
			b.Endpoint = sm[1]
		}
	}
	if v := get("endpoints.s3"); v != "" {
		b.Endpoint = v
	}
	var err error
	if b.PathStyle, err = boolSetting(m, "use_path_style", "force_path_style"); err != nil {
		return b, err
	}
	if b.UseLockfile, err = boolSetting(m, "use_lockfile"); err != nil {
		return b, err
	}
	switch {
	case b.Bucket == "":
		return b, errors.New("backend_config: bucket is not set")
	case b.Key == "":
		return b, errors.New("backend_config: key is not set")
	}
	return b, nil
}

func boolSetting(m map[string]string, names ...string) (bool, error) {
	for _, n := range names {
		if v, ok := m[n]; ok && v != "" {
			b, err := strconv.ParseBool(config.BackendValue(v))
			if err != nil {
				return false, fmt.Errorf("backend_config: %s: %q is not a boolean", n, v)
			}
			if b {
				return true, nil
			}
		}
	}
	return false, nil
}

// Client builds an S3 client for the backend: static credentials when the
// backend names them, else the SDK's default chain (environment, shared
// config, instance roles); its endpoint and path style when set.
func (b Backend) Client(ctx context.Context) (*s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if b.Region != "" {
		opts = append(opts, awsconfig.WithRegion(b.Region))
	}
	if b.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(b.AccessKey, b.SecretKey, b.SessionToken)))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 client: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if b.Endpoint != "" {
			o.BaseEndpoint = aws.String(b.Endpoint)
		}
		o.UsePathStyle = b.PathStyle
		// S3-compatible servers (MinIO) take checksums only where required.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}), nil
}
