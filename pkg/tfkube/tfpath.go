package tfkube

// This file turns the attribute paths of the plan JSON into field paths
// (notation.go): spec.0.template.0.spec.0.container.1.image ->
// spec.template.spec.containers[name=web].image.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Path is an attribute path into plan or state values: string map keys and
// attribute names, int list indices. ["spec", 0, "replicas"].
type Path []any

// String renders the attribute path the way Terraform users read it:
// spec.0.replicas.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, s)
	}
	return b.String()
}

// listBlocks are the repeated blocks of provider 1.13 and the list fields
// they stand for (singular block name -> Kubernetes field).
var listBlocks = map[string]string{
	"address": "addresses", "cluster_role_selectors": "clusterRoleSelectors", "container": "containers",
	"egress": "egress", "env": "env", "env_from": "envFrom", "from": "from", "host_aliases": "hostAliases",
	"http_header": "httpHeaders", "image_pull_secret": "imagePullSecrets", "image_pull_secrets": "imagePullSecrets",
	"ingress": "ingress", "init_container": "initContainers", "items": "items", "limit": "limits",
	"load_balancer_ingress": "ingress", "match_expressions": "matchExpressions", "match_fields": "matchFields",
	"node_selector_term": "nodeSelectorTerms", "not_ready_address": "notReadyAddresses", "option": "options",
	"path": "paths", "port": "ports", "ports": "ports", "readiness_gate": "readinessGates", "rule": "rules",
	"secret": "secrets", "sources": "sources", "subject": "subjects", "subset": "subsets", "sysctl": "sysctls",
	"tls": "tls", "to": "to", "toleration": "tolerations", "volume": "volumes",
	"volume_claim_template": "volumeClaimTemplates", "volume_mount": "volumeMounts", "webhook": "webhooks",
	"required_during_scheduling_ignored_during_execution":  "requiredDuringSchedulingIgnoredDuringExecution",
	"preferred_during_scheduling_ignored_during_execution": "preferredDuringSchedulingIgnoredDuringExecution",
}

// primitiveLists are list attributes of plain values whose index matters.
var primitiveLists = map[string]bool{
	"access_modes": true, "add": true, "api_groups": true, "args": true, "command": true, "drop": true,
	"external_ips": true, "finalizers": true, "hostnames": true, "hosts": true, "load_balancer_source_ranges": true,
	"mount_options": true, "nameservers": true, "namespaces": true, "non_resource_urls": true, "operations": true,
	"policy_types": true, "resource_names": true, "resources": true, "scopes": true, "searches": true,
	"values": true, "verbs": true, "api_versions": true, "except": true, "usages": true,
}

// renames are attributes whose Kubernetes field is not their camelCase.
var renames = map[string]string{
	"storage_provisioner": "provisioner",
}

var initialisms = map[string]string{
	"ip": "IP", "ips": "IPs", "pid": "PID", "ipc": "IPC", "url": "URL", "urls": "URLs", "uid": "UID",
	"tls": "TLS", "cidr": "CIDR", "id": "ID", "fqdn": "FQDN", "wwns": "WWNs", "iqn": "IQN",
}

// CamelCase turns a provider attribute name into the Kubernetes field name:
// cluster_ip -> clusterIP, volume_mount -> volumeMount.
func CamelCase(snake string) string {
	if r, ok := renames[snake]; ok {
		return r
	}
	parts := strings.Split(snake, "_")
	var b strings.Builder
	for i, p := range parts {
		if p == "" {
			continue
		}
		if i == 0 {
			b.WriteString(p)
			continue
		}
		if up, ok := initialisms[p]; ok {
			b.WriteString(up)
			continue
		}
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

// TypedFieldPath maps an attribute path of a typed kubernetes_* resource to
// the Kubernetes field path: spec.0.template.0.spec.0.container.1.image ->
// spec.template.spec.containers[1].image; metadata.0.labels.app ->
// metadata.labels.app. Blocks of at most one element lose their index;
// repeated blocks take their Kubernetes (plural) name; map keys stay as they
// are.
func TypedFieldPath(p Path) string { return TypedFieldPathIn(p, nil) }

// mergeKeys are the key fields of keyed lists (provider attribute name ->
// Kubernetes name), tried in order; the first set the element has names it.
var mergeKeys = map[string][][2][]string{
	"container":          {{{"name"}, {"name"}}},
	"init_container":     {{{"name"}, {"name"}}},
	"env":                {{{"name"}, {"name"}}},
	"volume":             {{{"name"}, {"name"}}},
	"image_pull_secrets": {{{"name"}, {"name"}}},
	"volume_mount":       {{{"mount_path"}, {"mountPath"}}},
	"host_aliases":       {{{"ip"}, {"ip"}}},
	"port": {
		{{"container_port", "protocol"}, {"containerPort", "protocol"}},
		{{"port", "protocol"}, {"port", "protocol"}},
	},
}

// keyOf returns the key fields of the keyed list element at p (an index
// segment) when values hold them, else nil.
func keyOf(block string, p Path, values any) []KeyField {
	sets, ok := mergeKeys[block]
	if !ok || values == nil {
		return nil
	}
	v, ok := ValueAt(values, p)
	if !ok {
		return nil
	}
	elem, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, set := range sets {
		tfNames, k8sNames := set[0], set[1]
		key := make([]KeyField, 0, len(tfNames))
		for i, n := range tfNames {
			kv, ok := elem[n]
			if !ok || kv == nil || Scalar(kv) == "" {
				key = nil
				break
			}
			key = append(key, KeyField{Name: k8sNames[i], Value: jsonScalar(normalize(kv))})
		}
		if len(key) == len(tfNames) {
			return key
		}
	}
	return nil
}

// TypedFieldPathIn is TypedFieldPath naming keyed list elements by their
// keys when values (the resource's attribute values) hold them.
func TypedFieldPathIn(p Path, values any) string {
	out := ""
	for i, seg := range p {
		if idx, ok := Index(seg); ok {
			parent := ""
			if i > 0 {
				parent, _ = p[i-1].(string)
			}
			// An index followed by an attribute name is a block element; a
			// primitive list's element is always last.
			last := i == len(p)-1
			if key := keyOf(parent, p[:i+1], values); key != nil {
				out = Key(out, key)
				continue
			}
			if _, list := listBlocks[parent]; list || (primitiveLists[parent] && last) || idx != 0 {
				out = ListIndex(out, idx)
			}
			continue
		}
		name := fmt.Sprint(seg)
		attribute := i == 0
		if i > 0 {
			_, attribute = Index(p[i-1])
		}
		if attribute {
			if l, ok := listBlocks[name]; ok {
				name = l
			} else {
				name = CamelCase(name)
			}
		}
		out = Field(out, name)
	}
	return out
}

// FieldPath renders a path into a Kubernetes object (keys already in
// Kubernetes spelling): spec.containers[0].image.
func FieldPath(p Path) string {
	out := ""
	for _, seg := range p {
		if idx, ok := Index(seg); ok {
			out = ListIndex(out, idx)
			continue
		}
		out = Field(out, fmt.Sprint(seg))
	}
	return out
}

// Index reports whether a path segment is a list index, and which.
func Index(seg any) (int, bool) {
	switch v := seg.(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		if v == math.Trunc(v) {
			return int(v), true
		}
	case json.Number:
		if n, err := strconv.Atoi(string(v)); err == nil {
			return n, true
		}
	}
	return 0, false
}

// Diff returns the paths at which before and after differ, as deep as both
// sides are maps or lists. Null, empty strings, zero, false, and empty maps

// ValueAt returns the value at p inside v.
func ValueAt(v any, p Path) (any, bool) {
	for _, seg := range p {
		if idx, ok := Index(seg); ok {
			l, isList := v.([]any)
			if !isList || idx < 0 || idx >= len(l) {
				return nil, false
			}
			v = l[idx]
			continue
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		k, _ := seg.(string)
		e, ok := m[k]
		if !ok {
			return nil, false
		}
		v = e
	}
	return v, true
}
