// Package manifest verifies a kubectl_manifest import the way
// gavinbunney/kubectl compares a manifest with the cluster: only the fields
// the configuration's YAML sets count, flattened to keys such as
// spec.instances or spec.containers.0.image (lists also as key.#, their
// length), minus the control fields the API server and controllers own
// (status, metadata.uid, ...) and the resource's ignore_fields. Fields the
// live object has beyond those — an operator's defaults — do not count.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Mismatch is one field the configuration sets to another value than live.
type Mismatch struct {
	Key     string // flattened key: spec.instances, spec.containers.0.image, spec.x.#
	Config  string
	Live    string
	Missing bool // the live object does not have the field
}

// Field is the mismatch's Kubernetes field path (list indexes and counts as
// numeric segments, which field matching ignores).
func (m Mismatch) Field() string { return strings.TrimSuffix(m.Key, ".#") }

// Compare returns the fields where live differs from the manifest's YAML.
func Compare(body string, live map[string]any, ignoreFields []string) ([]Mismatch, error) {
	user, err := parse(body)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	lb, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	liveObj, err := decode(lb)
	if err != nil {
		return nil, err
	}
	fu, fl := map[string]string{}, map[string]string{}
	flatten(fu, "", user)
	flatten(fl, "", liveObj)
	for k := range fu {
		if tfkube.ControlField(k) || Covered(k, ignoreFields) {
			delete(fu, k)
		}
	}
	var out []Mismatch
	for k, uv := range fu {
		u := strings.TrimSpace(uv)
		lv, ok := fl[k]
		switch {
		case !ok && u == "":
		case !ok:
			out = append(out, Mismatch{Key: k, Config: u, Missing: true})
		case strings.TrimSpace(lv) != u:
			out = append(out, Mismatch{Key: k, Config: u, Live: strings.TrimSpace(lv)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Covered reports whether a flattened key is one of fields or lies inside
// one: how kubectl_manifest matches its ignore_fields and sensitive_fields.
func Covered(key string, fields []string) bool {
	for _, f := range fields {
		if key == f || strings.HasPrefix(key, f+".") {
			return true
		}
	}
	return false
}

func parse(body string) (map[string]any, error) {
	j, err := yaml.YAMLToJSON([]byte(body))
	if err != nil {
		return nil, err
	}
	return decode(j)
}

func decode(j []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// flatten is the provider's flatten.Flatten: nil skipped, lists as key.# and
// key.N, scalars as text.
func flatten(out map[string]string, prefix string, v any) {
	key := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case nil:
	case map[string]any:
		for k, e := range x {
			if k == "" || e == nil {
				continue
			}
			flatten(out, key(k), e)
		}
	case []any:
		out[prefix+".#"] = fmt.Sprint(len(x))
		for i, e := range x {
			flatten(out, fmt.Sprintf("%s.%d", prefix, i), e)
		}
	case bool:
		out[prefix] = fmt.Sprint(x)
	case json.Number:
		out[prefix] = x.String()
	case string:
		out[prefix] = x
	default:
		out[prefix] = fmt.Sprint(x)
	}
}
