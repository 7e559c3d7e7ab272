package tofu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

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
		return false, fmt.Errorf("get %s%s: %w", s, SidecarSuffix, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s%s: %w", s, SidecarSuffix, err)
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
		return fmt.Errorf("put %s%s: %w", s, SidecarSuffix, err)
	}
	return nil
}
