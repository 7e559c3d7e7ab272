package tofu

import (
	"reflect"
	"testing"
)

func TestLocationFromBackend(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "ak", "AWS_SECRET_ACCESS_KEY": "sk", "AWS_REGION": "eu-west-1"}
	tofu, err := LocationFromBackend("s3", map[string]any{
		"bucket": "tfstate", "key": "m/terraform.tfstate", "endpoints": map[string]any{"s3": "http://127.0.0.1:9000"},
		"use_path_style": true, "region": "us-east-1",
	}, env, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Location{Bucket: "tfstate", Key: "m/terraform.tfstate", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true, AccessKey: "ak", SecretKey: "sk"}
	if !reflect.DeepEqual(tofu, want) {
		t.Fatalf("tofu: %+v", tofu)
	}
	tf, err := LocationFromBackend("s3", map[string]any{
		"bucket": "tfstate", "key": "m/terraform.tfstate", "endpoint": "http://127.0.0.1:9000", "force_path_style": true,
	}, env, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if tf.Key != "env:/staging/m/terraform.tfstate" || !tf.PathStyle || tf.Region != "eu-west-1" || tf.Endpoint != "http://127.0.0.1:9000" {
		t.Fatalf("terraform: %+v", tf)
	}
	if s := tf.String(); s != "s3://tfstate/env:/staging/m/terraform.tfstate at http://127.0.0.1:9000" {
		t.Fatalf("String() = %q", s)
	}
	if _, err := LocationFromBackend("local", nil, nil, ""); err == nil {
		t.Fatal("local backend must be refused")
	}
}
