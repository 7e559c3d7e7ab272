package tofu

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseBackendConfig reads backend_config as a workspace writes it
// (HCL-quoted or bare values) in either tool's spelling.
func TestParseBackendConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]string
		want    S3Backend
		wantErr string
	}{
		{"minimal", map[string]string{"bucket": "tfstate", "key": "shop/terraform.tfstate"},
			S3Backend{Bucket: "tfstate", Key: "shop/terraform.tfstate"}, ""},
		{"hcl quoted", map[string]string{"bucket": `"tfstate"`, "key": `"k"`, "region": `"eu-west-1"`},
			S3Backend{Bucket: "tfstate", Key: "k", Region: "eu-west-1"}, ""},
		{"tofu 1.10: endpoints object, use_path_style, use_lockfile", map[string]string{"bucket": "b", "key": "k",
			"endpoints": `{ s3 = "http://127.0.0.1:9000" }`, "use_path_style": "true", "use_lockfile": "true"},
			S3Backend{Bucket: "b", Key: "k", Endpoint: "http://127.0.0.1:9000", PathStyle: true, UseLockfile: true}, ""},
		{"endpoints.s3", map[string]string{"bucket": "b", "key": "k", "endpoints.s3": `"http://s3.local"`},
			S3Backend{Bucket: "b", Key: "k", Endpoint: "http://s3.local"}, ""},
		{"terraform 1.5: endpoint, force_path_style, dynamodb", map[string]string{"bucket": "b", "key": "k",
			"endpoint": "http://minio:9000", "force_path_style": "true", "dynamodb_table": "locks"},
			S3Backend{Bucket: "b", Key: "k", Endpoint: "http://minio:9000", PathStyle: true, DynamoDBTable: "locks"}, ""},
		{"endpoints wins over endpoint", map[string]string{"bucket": "b", "key": "k", "endpoint": "http://old",
			"endpoints": `{s3="http://new"}`}, S3Backend{Bucket: "b", Key: "k", Endpoint: "http://new"}, ""},
		{"workspace_key_prefix", map[string]string{"bucket": "b", "key": "k", "workspace_key_prefix": "workspaces"},
			S3Backend{Bucket: "b", Key: "k", WorkspaceKeyPrefix: "workspaces"}, ""},
		{"credentials and profile", map[string]string{"bucket": "b", "key": "k", "access_key": "ak", "secret_key": "sk",
			"token": "t", "profile": "ci", "shared_credentials_files": `["/b", "/a"]`, "shared_credentials_file": "/c"},
			S3Backend{Bucket: "b", Key: "k", AccessKey: "ak", SecretKey: "sk", Token: "t", Profile: "ci",
				SharedCredentialsFiles: []string{"/a", "/b", "/c"}}, ""},
		{"skip flags", map[string]string{"bucket": "b", "key": "k", "skip_credentials_validation": "true",
			"skip_region_validation": "true", "skip_metadata_api_check": "true", "skip_requesting_account_id": "true",
			"skip_s3_checksum": "true"},
			S3Backend{Bucket: "b", Key: "k", SkipCredentialsValidation: true, SkipRegionValidation: true,
				SkipMetadataAPICheck: true, SkipRequestingAccountID: true, SkipS3Checksum: true}, ""},
		{"false flags", map[string]string{"bucket": "b", "key": "k", "use_path_style": "false", "use_lockfile": "false"},
			S3Backend{Bucket: "b", Key: "k"}, ""},
		{"keys left to the tool", map[string]string{"bucket": "b", "key": "k", "encrypt": "true", "kms_key_id": "x",
			"acl": "private", "max_retries": "5", "role_arn": "arn:aws:iam::1:role/r", "sts_endpoint": "http://sts"},
			S3Backend{Bucket: "b", Key: "k"}, ""},
		{"not a boolean", map[string]string{"bucket": "b", "key": "k", "use_lockfile": "yes please"},
			S3Backend{}, `use_lockfile: "yes please" is not a boolean`},
		{"no bucket", map[string]string{"key": "k"}, S3Backend{}, "bucket is not set"},
		{"no key", map[string]string{"bucket": "b"}, S3Backend{}, "key is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBackendConfig(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseS3BackendRecord reads init's record of the backend (JSON values,
// nulls for what is unset), in both tools' spellings.
func TestParseS3BackendRecord(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]any
		want S3Backend
	}{
		{"tofu", map[string]any{"bucket": "b", "key": "k", "endpoints": map[string]any{"s3": "http://127.0.0.1:9000", "sts": nil},
			"use_path_style": true, "use_lockfile": true, "endpoint": nil, "region": nil, "shared_credentials_files": nil},
			S3Backend{Bucket: "b", Key: "k", Endpoint: "http://127.0.0.1:9000", PathStyle: true, UseLockfile: true}},
		{"terraform 1.5", map[string]any{"bucket": "b", "key": "k", "endpoint": "http://127.0.0.1:9000", "force_path_style": true,
			"workspace_key_prefix": "ws", "shared_credentials_files": []any{"/x"}},
			S3Backend{Bucket: "b", Key: "k", Endpoint: "http://127.0.0.1:9000", PathStyle: true, WorkspaceKeyPrefix: "ws",
				SharedCredentialsFiles: []string{"/x"}}},
	}
	for _, tt := range tests {
		got, err := ParseS3Backend(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v\ngot  %+v\nwant %+v", tt.name, err, got, tt.want)
		}
	}
}

func TestLocation(t *testing.T) {
	b := S3Backend{Bucket: "b", Key: "shop/terraform.tfstate", WorkspaceKeyPrefix: "ws"}
	env := map[string]string{"AWS_REGION": "eu-central-1", "AWS_ENDPOINT_URL_S3": "http://s3", "AWS_ACCESS_KEY_ID": "ak",
		"AWS_SECRET_ACCESS_KEY": "sk", "AWS_PROFILE": "p"}
	tests := []struct {
		name      string
		b         S3Backend
		env       map[string]string
		workspace string
		want      Location
	}{
		{"env fills in", b, env, "", Location{Bucket: "b", Key: "shop/terraform.tfstate", Region: "eu-central-1",
			Endpoint: "http://s3", AccessKey: "ak", SecretKey: "sk", Profile: "p"}},
		{"default workspace", b, nil, "default", Location{Bucket: "b", Key: "shop/terraform.tfstate", Region: "us-east-1"}},
		{"workspace_key_prefix", b, nil, "staging", Location{Bucket: "b", Key: "ws/staging/shop/terraform.tfstate", Region: "us-east-1"}},
		{"env: by default", S3Backend{Bucket: "b", Key: "k"}, nil, "staging", Location{Bucket: "b", Key: "env:/staging/k", Region: "us-east-1"}},
		{"terraform 1.5's endpoint variable", S3Backend{Bucket: "b", Key: "k"}, map[string]string{"AWS_S3_ENDPOINT": "http://old"}, "",
			Location{Bucket: "b", Key: "k", Region: "us-east-1", Endpoint: "http://old"}},
		{"configuration wins", S3Backend{Bucket: "b", Key: "k", Region: "r", Endpoint: "http://cfg", AccessKey: "cak", SecretKey: "csk"},
			env, "", Location{Bucket: "b", Key: "k", Region: "r", Endpoint: "http://cfg", AccessKey: "cak", SecretKey: "csk", Profile: "p"}},
	}
	for _, tt := range tests {
		if got := tt.b.Location(tt.env, tt.workspace); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
	if s := (Location{Bucket: "b", Key: "k", SecretKey: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Fatalf("String shows the secret: %s", s)
	}
	if _, err := LocationFromBackend("gcs", map[string]any{"bucket": "b"}, nil, ""); err == nil {
		t.Fatal("a non-s3 backend must be an error")
	}
}
