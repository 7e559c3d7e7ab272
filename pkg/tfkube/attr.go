package tfkube

// This file says what each attribute of a resource stands for in
// Kubernetes (AttrKind), and lists the attributes of a planned change with
// their kinds: the planner's classifier and the importer's verifier both
// read a change through AttrChanges.

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
	// provider 2.x/3.x
	"wait_for_service_account_token": true, "wait_for_default_service_account": true, "target_state": true,
	"data_wo_revision": true, "binary_data_wo_revision": true, "data_wo": true, "binary_data_wo": true,
}

// bookkeeping are the metadata fields the API server writes on every
// write or at creation.
var bookkeeping = map[string]bool{
	"resourceVersion": true, "generation": true, "selfLink": true, "uid": true,
	"creationTimestamp": true, "managedFields": true,
}

// Bookkeeping reports whether a metadata field (in Kubernetes spelling:
// resourceVersion) is bookkeeping the API server writes on every write or
// at creation (resourceVersion, generation, selfLink, uid,
// creationTimestamp, managedFields): never drift, never a change worth
// reporting.
func Bookkeeping(field string) bool { return bookkeeping[field] }

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
		case "yaml_incluster", "live_manifest_incluster", "drift":
			// gavinbunney 1.19 and alekc 2.x: sha256 fingerprints of the
			// live values of the YAML's fields; alekc's newer releases
			// add drift, a YAML tree of the drifted paths (DriftFields).
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
			if len(p) > 1 && (p[1] == "apiVersion" || p[1] == "kind") {
				return Attr{Kind: AttrField, Field: FieldPath(p[1:])}
			}
			if len(p) > 2 && p[1] == "metadata" {
				if s, _ := p[2].(string); bookkeeping[s] {
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
	if IsPatch(tfType) {
		return classifyPatchAttr(tfType, p, values)
	}
	if _, ok := KindOf(tfType); !ok {
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
		if s, _ := p[2].(string); bookkeeping[CamelCase(s)] {
			return Attr{Kind: AttrNoise}
		}
	case top == "metadata" && len(p) == 2:
		// metadata as an attribute, not a block (validating_admission_policy_v1)
		if s, _ := p[1].(string); bookkeeping[CamelCase(s)] {
			return Attr{Kind: AttrNoise}
		}
	case top == "status":
		return Attr{Kind: AttrNoise}
	}
	return Attr{Kind: AttrField, Field: TypedFieldPathIn(p, values)}
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

// AttrChange is one attribute of a resource that differs between two of its
// values, with what it stands for.
type AttrChange struct {
	Path Path
	Attr Attr
	// Unknown is set when the attribute is known only after apply.
	Unknown bool
}

// AttrChanges lists the attributes of a tfType resource that differ between
// before and after (Diff), then those the after_unknown mask marks unknown
// and Diff did not list; each path once. A Kubernetes field names a keyed
// list element by its keys where the values hold it (after, else before).
// Terraform-only attributes and noise are left out: they are never drift,
// and an import cannot fill them.
func AttrChanges(tfType string, before, after, afterUnknown any) []AttrChange {
	unknown := UnknownPaths(afterUnknown)
	isUnknown := make(map[string]bool, len(unknown))
	for _, p := range unknown {
		isUnknown[p.String()] = true
	}
	var out []AttrChange
	seen := map[string]bool{}
	for _, p := range append(Diff(before, after), unknown...) {
		k := p.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		values := after
		if _, ok := ValueAt(after, p); !ok {
			values = before
		}
		a := ClassifyAttrIn(tfType, p, values)
		if a.Kind == AttrNoise || a.Kind == AttrTerraform {
			continue
		}
		out = append(out, AttrChange{Path: p, Attr: a, Unknown: isUnknown[k]})
	}
	return out
}
