package tfkube

// This file holds what kubectl_manifest leaves out when it compares a
// manifest's YAML with the live object, and reads the drift it reports.

import (
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// controlFields are the fields the API server and controllers write and
// kubectl_manifest never compares: gavinbunney/kubectl's
// kubernetesControlFields (status, finalizers, initializers,
// ownerReferences, creationTimestamp, generation, resourceVersion, uid,
// kubectl's last-applied annotation, managedFields) plus metadata.selfLink,
// which the API server wrote before Kubernetes 1.20 and Terraform never
// sets.
var controlFields = []string{
	"status",
	"metadata.finalizers", "metadata.initializers", "metadata.ownerReferences",
	"metadata.creationTimestamp", "metadata.generation", "metadata.resourceVersion",
	"metadata.selfLink", "metadata.uid", "metadata.managedFields",
	"metadata.annotations.kubectl.kubernetes.io/last-applied-configuration",
}

// ControlField reports whether field (a field path, or a flattened key such
// as metadata.finalizers.0 or status.conditions.#) is a control field of a
// kubectl_manifest, or lies inside one: a difference there is never drift
// of the manifest.
func ControlField(field string) bool {
	for _, c := range controlFields {
		if FieldUnder(field, c) {
			return true
		}
	}
	return false
}

// DriftFields reads the drift attribute of alekc/kubectl's newer releases:
// a YAML tree holding only the paths where the manifest and the live object
// differ, every leaf a marker such as <drift> (values are never shown by
// default), list elements as {_index_: N, ...}. It returns those paths as
// fields; nil when drift is empty or not YAML.
func DriftFields(drift string) []string {
	if strings.TrimSpace(drift) == "" {
		return nil
	}
	var tree any
	if err := yaml.Unmarshal([]byte(drift), &tree); err != nil {
		return nil
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["_missing_"]; ok {
				out = append(out, prefix)
				return
			}
			if inner, ok := x["_value_"]; ok {
				walk(prefix, inner)
				return
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				if k != "_index_" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(Field(prefix, k), x[k])
			}
		case []any:
			for i, e := range x {
				idx := i
				if m, ok := e.(map[string]any); ok {
					if n, ok := Index(m["_index_"]); ok {
						idx = n
					}
				}
				walk(ListIndex(prefix, idx), e)
			}
		default:
			if prefix != "" {
				out = append(out, prefix)
			}
		}
	}
	walk("", tree)
	return out
}
