package tfkube

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
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

// AttrKind says what an attribute of a resource stands for.
type AttrKind int

const (
	// AttrField is a Kubernetes field; Attr.Field holds its path.
	AttrField AttrKind = iota
	// AttrConfig is a manifest resource's configuration (kubectl_manifest
	// yaml_body, kubernetes_manifest manifest): a difference there is a
	// configuration change. Attr.Field holds the field path when known.
	AttrConfig
	// AttrLive is an opaque fingerprint of the live fields
	// (kubectl_manifest yaml_incluster): it changes on drift, but does not
	// say which field drifted.
	AttrLive
	// AttrTerraform is a Terraform-only setting (timeouts, wait_for_rollout,
	// force_new): it never differs between state and cluster, and import
	// cannot fill it.
	AttrTerraform
	// AttrNoise is bookkeeping the API server changes on every write
	// (metadata.resource_version, generation, self_link, id).
	AttrNoise
)

func (k AttrKind) String() string {
	switch k {
	case AttrField:
		return "field"
	case AttrConfig:
		return "config"
	case AttrLive:
		return "live"
	case AttrTerraform:
		return "terraform"
	case AttrNoise:
		return "noise"
	}
	return "unknown"
}

// Attr is what ClassifyAttr found out about an attribute path.
type Attr struct {
	Kind  AttrKind
	Field string // Kubernetes field path for AttrField (and AttrConfig when known)
}

// terraformOnly are attributes of the typed resources that are not fields of
// the object.
var terraformOnly = map[string]bool{
	"timeouts": true, "wait_for_rollout": true, "wait_for_load_balancer": true,
	"wait_until_bound": true, "wait_for_completion": true, "wait_for_default_secret": true,
}

var metadataNoise = map[string]bool{
	"resource_version": true, "generation": true, "self_link": true, "uid": true,
}

// ClassifyAttr maps an attribute path of a tfType resource to what it stands
// for in Kubernetes.
func ClassifyAttr(tfType string, p Path) Attr { return ClassifyAttrIn(tfType, p, nil) }

// ClassifyAttrIn is ClassifyAttr with the resource's attribute values at
// hand: elements of keyed lists are then named by their keys, as the watcher
// names them (spec.template.spec.containers[name=web].image).
func ClassifyAttrIn(tfType string, p Path, values any) Attr {
	if len(p) == 0 {
		return Attr{Kind: AttrNoise}
	}
	top, _ := p[0].(string)
	switch tfType {
	case TypeKubectlManifest:
		switch top {
		case "yaml_body", "yaml_body_parsed":
			return Attr{Kind: AttrConfig}
		case "yaml_incluster", "live_manifest_incluster":
			return Attr{Kind: AttrLive}
		case "uid", "live_uid":
			return Attr{Kind: AttrField, Field: "metadata.uid"}
		case "api_version":
			return Attr{Kind: AttrField, Field: "apiVersion"}
		case "kind":
			return Attr{Kind: AttrField, Field: "kind"}
		case "name":
			return Attr{Kind: AttrField, Field: "metadata.name"}
		case "namespace", "override_namespace":
			return Attr{Kind: AttrField, Field: "metadata.namespace"}
		case "id":
			return Attr{Kind: AttrNoise}
		}
		return Attr{Kind: AttrTerraform}
	case TypeKubernetesManifest:
		switch top {
		case "object":
			if len(p) > 2 && p[1] == "metadata" {
				if s, _ := p[2].(string); s == "resourceVersion" || s == "generation" || s == "managedFields" || s == "creationTimestamp" || s == "uid" {
					return Attr{Kind: AttrNoise}
				}
			}
			if len(p) > 1 && p[1] == "status" {
				return Attr{Kind: AttrNoise}
			}
			return Attr{Kind: AttrField, Field: FieldPath(p[1:])}
		case "manifest":
			return Attr{Kind: AttrConfig, Field: FieldPath(p[1:])}
		}
		return Attr{Kind: AttrTerraform}
	}
	if _, ok := typed[tfType]; !ok {
		return Attr{Kind: AttrField, Field: p.String()}
	}
	switch {
	case top == "id":
		return Attr{Kind: AttrNoise}
	case terraformOnly[top]:
		return Attr{Kind: AttrTerraform}
	case top == "default_secret_name":
		return Attr{Kind: AttrNoise}
	case top == "metadata" && len(p) >= 3:
		if s, _ := p[2].(string); metadataNoise[s] {
			return Attr{Kind: AttrNoise}
		}
	}
	return Attr{Kind: AttrField, Field: TypedFieldPathIn(p, values)}
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

// keySelector renders [k=v,...] for the keyed list element at p (an index
// segment) when values hold it, else "".
func keySelector(block string, p Path, values any) string {
	sets, ok := mergeKeys[block]
	if !ok || values == nil {
		return ""
	}
	v, ok := ValueAt(values, p)
	if !ok {
		return ""
	}
	elem, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	for _, set := range sets {
		tfNames, k8sNames := set[0], set[1]
		parts := make([]string, 0, len(tfNames))
		for i, n := range tfNames {
			kv, ok := elem[n]
			if !ok || kv == nil || Scalar(kv) == "" {
				parts = nil
				break
			}
			parts = append(parts, k8sNames[i]+"="+Scalar(kv))
		}
		if len(parts) == len(tfNames) {
			sort.Strings(parts)
			return "[" + strings.Join(parts, ",") + "]"
		}
	}
	return ""
}

// TypedFieldPathIn is TypedFieldPath naming keyed list elements by their
// keys when values (the resource's attribute values) hold them.
func TypedFieldPathIn(p Path, values any) string {
	var b strings.Builder
	for i, seg := range p {
		if idx, ok := Index(seg); ok {
			parent := ""
			if i > 0 {
				parent, _ = p[i-1].(string)
			}
			// An index followed by an attribute name is a block element; a
			// primitive list's element is always last.
			last := i == len(p)-1
			if sel := keySelector(parent, p[:i+1], values); sel != "" {
				b.WriteString(sel)
				continue
			}
			if _, list := listBlocks[parent]; list || (primitiveLists[parent] && last) || idx != 0 {
				fmt.Fprintf(&b, "[%d]", idx)
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
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(name)
	}
	return b.String()
}

// FieldPath renders a path into a Kubernetes object (keys already in
// Kubernetes spelling): spec.containers[0].image.
func FieldPath(p Path) string {
	var b strings.Builder
	for _, seg := range p {
		if idx, ok := Index(seg); ok {
			fmt.Fprintf(&b, "[%d]", idx)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		fmt.Fprint(&b, seg)
	}
	return b.String()
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
// and lists are all "unset" and equal to each other, so a provider's
// null-versus-empty churn is not a difference.
func Diff(before, after any) []Path {
	var out []Path
	diff(nil, before, after, &out)
	return out
}

func diff(p Path, a, b any, out *[]Path) {
	a, b = normalize(a), normalize(b)
	if Equal(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, dup := am[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			diff(append(p[:len(p):len(p)], k), am[k], bm[k], out)
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		n := max(len(al), len(bl))
		for i := 0; i < n; i++ {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			diff(append(p[:len(p):len(p)], i), x, y, out)
		}
		return
	}
	// One side is a container and the other unset: descend so the paths
	// name the leaves that appeared or went away (metadata.labels.team, not
	// metadata.labels).
	if isZero(a) && isContainer(b) {
		diff(p, emptyLike(b), b, out)
		return
	}
	if isZero(b) && isContainer(a) {
		diff(p, a, emptyLike(a), out)
		return
	}
	*out = append(*out, append(Path(nil), p...))
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

func emptyLike(v any) any {
	switch v.(type) {
	case map[string]any:
		return map[string]any{}
	case []any:
		return []any{}
	}
	return nil
}

// Equal compares two values with unset-equivalence (see Diff).
func Equal(a, b any) bool {
	a, b = normalize(a), normalize(b)
	if isZero(a) && isZero(b) {
		return true
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, v := range am {
			if !Equal(v, bm[k]) {
				return false
			}
		}
		for k, v := range bm {
			if _, ok := am[k]; !ok && !isZero(normalize(v)) {
				return false
			}
		}
		return true
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		if len(al) != len(bl) {
			return false
		}
		for i := range al {
			if !Equal(al[i], bl[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func normalize(v any) any {
	switch x := v.(type) {
	case json.Number:
		if f, err := x.Float64(); err == nil {
			return f
		}
		return string(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case map[string]any:
		for _, e := range x {
			if !isZero(normalize(e)) {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	}
	return false
}

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

// Sensitive reports whether a plan's sensitivity mask (before_sensitive or
// after_sensitive) marks p, or any value containing it, as sensitive. A mask
// is true for a sensitive value, or mirrors the value's shape down to the
// sensitive leaves.
func Sensitive(mask any, p Path) bool {
	if b, ok := mask.(bool); ok {
		return b
	}
	for _, seg := range p {
		switch m := mask.(type) {
		case bool:
			return m
		case map[string]any:
			k, _ := seg.(string)
			mask = m[k]
		case []any:
			idx, ok := Index(seg)
			if !ok || idx < 0 || idx >= len(m) {
				return false
			}
			mask = m[idx]
		default:
			return false
		}
	}
	if b, ok := mask.(bool); ok {
		return b
	}
	// A container below p holds something sensitive: the value at p as a
	// whole is not safe to show.
	return containsTrue(mask)
}

func containsTrue(mask any) bool {
	switch m := mask.(type) {
	case bool:
		return m
	case map[string]any:
		for _, v := range m {
			if containsTrue(v) {
				return true
			}
		}
	case []any:
		for _, v := range m {
			if containsTrue(v) {
				return true
			}
		}
	}
	return false
}

// FieldMatches reports whether field path a lies at or below b, or b at or
// below a, ignoring list selectors: spec.template.spec.containers[0].image
// matches spec.template.spec.containers and
// spec.template.spec.containers[name=app].image. It is how a changed path
// is matched to ignore rules and to field owners, whose list notation may
// differ.
func FieldMatches(a, b string) bool {
	as, bs := FieldShape(a), FieldShape(b)
	n := min(len(as), len(bs))
	for i := 0; i < n; i++ {
		if as[i] != bs[i] {
			return false
		}
	}
	return true
}

// FieldUnder reports whether path lies at or below prefix (list selectors
// ignored).
func FieldUnder(path, prefix string) bool {
	ps, xs := FieldShape(path), FieldShape(prefix)
	if len(xs) > len(ps) {
		return false
	}
	for i := range xs {
		if ps[i] != xs[i] {
			return false
		}
	}
	return true
}

// FieldShape splits a field path into its names, dropping list selectors
// ([0], [name=x], numeric segments).
func FieldShape(p string) []string {
	var out []string
	for _, seg := range strings.Split(stripSelectors(p), ".") {
		if seg == "" {
			continue
		}
		if _, err := strconv.Atoi(seg); err == nil {
			continue
		}
		out = append(out, seg)
	}
	return out
}

func stripSelectors(p string) string {
	var b strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Scalar renders a scalar value as text the way YAML and kubectl show it:
// 3 (not 3.000000e+00), true, strings as they are.
func Scalar(v any) string {
	switch x := normalize(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// UnknownPaths lists the paths an after_unknown mask marks true.
func UnknownPaths(mask any) []Path {
	var out []Path
	var walk func(p Path, m any)
	walk = func(p Path, m any) {
		switch v := m.(type) {
		case bool:
			if v {
				out = append(out, append(Path(nil), p...))
			}
		case map[string]any:
			for k, e := range v {
				walk(append(p[:len(p):len(p)], k), e)
			}
		case []any:
			for i, e := range v {
				walk(append(p[:len(p):len(p)], i), e)
			}
		}
	}
	walk(nil, mask)
	return out
}
