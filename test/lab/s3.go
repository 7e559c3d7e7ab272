package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 is the lab's S3 server (MinIO) and the versioned bucket that holds state.
type S3 struct {
	Endpoint  string `json:"endpoint"` // http://127.0.0.1:PORT
	Region    string `json:"region"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	Bucket    string `json:"bucket"` // versioning enabled
}

// StateBucket is the name of the lab's state bucket.
const StateBucket = "tfstate"

// Client returns an S3 client for the server: path-style addressing, static
// credentials, checksums only where the API requires them.
func (s S3) Client() *s3.Client {
	creds := aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, Source: "driftgate lab"}
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// startS3 starts MinIO on a single drive in Dir/minio and creates the
// versioned state bucket.
func (l *Lab) startS3(ctx context.Context) error {
	cfg := S3{Region: "us-east-1", AccessKey: "driftgate", SecretKey: randomHex(16), Bucket: StateBucket}
	if _, err := l.launch(ctx, func() (*process, func(context.Context) error) {
		port, console := freePort(), freePort()
		cfg.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		l.set(func() { l.S3 = cfg })
		return &process{
			Name: ComponentS3,
			Path: l.Tools.MinIO,
			Args: []string{
				"server", filepath.Join(l.Dir, "minio"),
				"--address=127.0.0.1:" + strconv.Itoa(port),
				"--console-address=127.0.0.1:" + strconv.Itoa(console),
				"--certs-dir=" + filepath.Join(l.Dir, "pki", "minio"),
				"--quiet",
			},
			Env: baseEnv(
				"MINIO_ROOT_USER="+cfg.AccessKey,
				"MINIO_ROOT_PASSWORD="+cfg.SecretKey,
				"MINIO_BROWSER=off",
				"MINIO_UPDATE=off",
			),
			Log: l.LogFile(ComponentS3),
		}, func(ctx context.Context) error { return probe(ctx, cfg.Endpoint+"/minio/health/ready", "") }
	}); err != nil {
		return err
	}
	return createVersionedBucket(ctx, cfg.Client(), cfg.Bucket)
}

func (l *Lab) s3Ready(ctx context.Context) error {
	return probe(ctx, l.S3.Endpoint+"/minio/health/ready", "")
}

// StopS3 stops the S3 server and waits until it is gone.
func (l *Lab) StopS3() error { return l.stopComponent(ComponentS3) }

// StartS3 starts a stopped S3 server again on the same port and data
// directory (the bucket and every object version survive) and waits until it
// is ready.
func (l *Lab) StartS3(ctx context.Context) error { return l.restart(ctx, ComponentS3, l.s3Ready) }

// createVersionedBucket creates the bucket with versioning on. MinIO answers
// its readiness probe before its object layer is up; until it is, requests
// fail with XMinioServerNotInitialized, and the create is tried again.
func createVersionedBucket(ctx context.Context, c *s3.Client, bucket string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var err error
	for {
		_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
		var ae smithy.APIError
		if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "XMinioServerNotInitialized" {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create bucket %s: %w (%w)", bucket, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("enable versioning on bucket %s: %w", bucket, err)
	}
	return nil
}
