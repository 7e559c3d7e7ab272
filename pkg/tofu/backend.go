package tofu

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/driftgate/driftgate/pkg/config"
)

// S3Backend is an s3 backend's configuration, in the terms of both tools:
// OpenTofu 1.10's (endpoints.s3, use_path_style, use_lockfile) and
// Terraform 1.5's (endpoint, force_path_style). Only what reading and
// locking the state needs is kept; every other key either tool accepts
// (role and KMS settings, retries, ...) is accepted and left to the tool.
type S3Backend struct {
	Bucket string
	Key    string
	Region string
	// WorkspaceKeyPrefix is where non-default workspaces' states live
	// (PREFIX/WORKSPACE/KEY); empty: "env:", both tools' default.
	WorkspaceKeyPrefix string
	// Endpoint is the S3 endpoint: endpoints.s3 (or endpoints = { s3 = ... }),
	// else endpoint. Empty: the environment's, else AWS.
	Endpoint string
	// PathStyle: use_path_style or force_path_style.
	PathStyle bool
	// UseLockfile: OpenTofu's native S3 lock object (KEY.tflock).
	UseLockfile bool
	// DynamoDBTable is a DynamoDB lock table.
	DynamoDBTable string
	// Credentials named in the configuration (secrets); empty: the
	// environment's (AWS_ACCESS_KEY_ID, ...), then the SDK's chain.
	AccessKey, SecretKey, Token string
	Profile                     string
	SharedCredentialsFiles      []string
	// SkipS3Checksum, SkipCredentialsValidation, SkipRegionValidation,
	// SkipMetadataAPICheck and SkipRequestingAccountID are the skip_* flags.
	SkipS3Checksum, SkipCredentialsValidation, SkipRegionValidation bool
	SkipMetadataAPICheck, SkipRequestingAccountID                   bool
}

// hclS3Endpoint finds s3 in an endpoints object written as HCL
// ({ s3 = "http://..." }), as backend_config values and .tfbackend files
// write it.
var hclS3Endpoint = regexp.MustCompile(`s3\s*=\s*"([^"]*)"`)

// ParseBackendConfig reads a workspace's backend_config (the values passed
// to init as -backend-config=key=value, HCL-quoted or not; see
// config.BackendValue).
func ParseBackendConfig(m map[string]string) (S3Backend, error) {
	cfg := make(map[string]any, len(m))
	for k, v := range m {
		cfg[k] = v
	}
	return ParseS3Backend(cfg)
}

// ParseS3Backend reads an s3 backend's configuration: init's record of it
// (see ReadBackend; JSON values: strings, bools, lists, objects) or a
// backend_config map (strings, possibly HCL). Bucket and key are required;
// a flag that is not a boolean is an error.
func ParseS3Backend(cfg map[string]any) (S3Backend, error) {
	var errs []error
	str := func(k string) string {
		switch v := cfg[k].(type) {
		case string:
			return config.BackendValue(v)
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	flag := func(keys ...string) bool {
		on := false
		for _, k := range keys {
			switch v := cfg[k].(type) {
			case bool:
				on = on || v
			case string:
				if v == "" {
					continue
				}
				b, err := strconv.ParseBool(config.BackendValue(v))
				if err != nil {
					errs = append(errs, fmt.Errorf("backend_config: %s: %q is not a boolean", k, v))
				}
				on = on || b
			}
		}
		return on
	}
	b := S3Backend{
		Bucket: str("bucket"), Key: str("key"), Region: str("region"),
		WorkspaceKeyPrefix: str("workspace_key_prefix"),
		Endpoint:           str("endpoint"),
		DynamoDBTable:      str("dynamodb_table"),
		AccessKey:          str("access_key"), SecretKey: str("secret_key"), Token: str("token"),
		Profile:                   str("profile"),
		PathStyle:                 flag("use_path_style", "force_path_style"),
		UseLockfile:               flag("use_lockfile"),
		SkipS3Checksum:            flag("skip_s3_checksum"),
		SkipCredentialsValidation: flag("skip_credentials_validation"),
		SkipRegionValidation:      flag("skip_region_validation"),
		SkipMetadataAPICheck:      flag("skip_metadata_api_check"),
		SkipRequestingAccountID:   flag("skip_requesting_account_id"),
	}
	switch eps := cfg["endpoints"].(type) {
	case map[string]any:
		if e, _ := eps["s3"].(string); e != "" {
			b.Endpoint = e
		}
	case string:
		if sm := hclS3Endpoint.FindStringSubmatch(eps); sm != nil && sm[1] != "" {
			b.Endpoint = sm[1]
		}
	}
	if e := str("endpoints.s3"); e != "" {
		b.Endpoint = e
	}
	b.SharedCredentialsFiles = strList(cfg["shared_credentials_files"])
	if f := str("shared_credentials_file"); f != "" {
		b.SharedCredentialsFiles = append(b.SharedCredentialsFiles, f)
	}
	if b.Bucket == "" {
		errs = append(errs, errors.New("backend_config: bucket is not set"))
	}
	if b.Key == "" {
		errs = append(errs, errors.New("backend_config: key is not set"))
	}
	return b, errors.Join(errs...)
}

// strList reads a list: JSON (init's record) or an HCL list string
// (["a", "b"]).
func strList(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, e := range l {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case string:
		for _, e := range strings.Split(strings.Trim(strings.TrimSpace(l), "[]"), ",") {
			if s := config.BackendValue(e); s != "" {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

// StateKey is the key of workspace's state object: Key for the default
// workspace (empty or "default"), else WORKSPACE_KEY_PREFIX/WORKSPACE/KEY.
func (b S3Backend) StateKey(workspace string) string {
	if workspace == "" || workspace == "default" {
		return b.Key
	}
	prefix := b.WorkspaceKeyPrefix
	if prefix == "" {
		prefix = "env:"
	}
	return prefix + "/" + workspace + "/" + b.Key
}
