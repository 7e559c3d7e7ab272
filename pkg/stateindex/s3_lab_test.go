package stateindex_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/stateindex"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/test/lab"
)

func state(serial, name string) string {
	return `{"version": 4, "serial": ` + serial + `, "lineage": "l", "resources": [
	  {"mode": "managed", "type": "kubernetes_config_map", "name": "c",
	   "instances": [{"attributes": {"metadata": [{"name": "` + name + `", "namespace": "shop"}]}}]}]}`
}

// countingAPI counts the GETs a Source makes.
type countingAPI struct {
	tofu.S3API
	gets int
}

func (c *countingAPI) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.gets++
	return c.S3API.GetObject(ctx, in, opts...)
}

// TestSourceLab reads state from the lab's versioned MinIO bucket: a missing
// object is an empty index, the object is read again only when its ETag or
// version changes, and the lock object next to it is never touched.
func TestSourceLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MinIO")
	}
	l := lab.Start(t, lab.WithoutKubernetes())
	ctx := context.Background()
	cfg := map[string]any{"bucket": l.S3.Bucket, "key": "idx/terraform.tfstate", "endpoints": map[string]any{"s3": l.S3.Endpoint}, "use_path_style": true}
	loc, err := tofu.LocationFromBackend("s3", cfg, map[string]string{"AWS_ACCESS_KEY_ID": l.S3.AccessKey, "AWS_SECRET_ACCESS_KEY": l.S3.SecretKey, "AWS_REGION": l.S3.Region}, "")
	if err != nil {
		t.Fatal(err)
	}
	client, err := tofu.NewS3Client(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	api := &countingAPI{S3API: client}
	src := stateindex.NewSource(api, loc)

	ix, changed, err := src.Load(ctx)
	if err != nil || !changed || ix.Len() != 0 {
		t.Fatalf("missing state: %v %v %d", err, changed, ix.Len())
	}
	put := func(body string) {
		if _, err := l.S3.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(l.S3.Bucket), Key: aws.String(loc.Key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	put(state("1", "a"))
	ix, changed, err = src.Load(ctx)
	if err != nil || !changed || ix.Serial != 1 || ix.VersionID == "" || !ix.Manages(events.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a"}) {
		t.Fatalf("first version: %v %v %+v", err, changed, ix)
	}
	if _, changed, _ = src.Load(ctx); changed || api.gets != 1 {
		t.Fatalf("unchanged object read again (changed %v, %d GETs)", changed, api.gets)
	}
	put(state("2", "b"))
	ix, changed, err = src.Load(ctx)
	if err != nil || !changed || ix.Serial != 2 || api.gets != 2 || !ix.Manages(events.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "b"}) {
		t.Fatalf("second version: %v %v %+v (%d GETs)", err, changed, ix, api.gets)
	}
}
