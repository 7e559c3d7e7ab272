package tfkube

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/events"
)

// Object is the identity of the Kubernetes object a resource instance
// manages, as far as Terraform knows it.
type Object struct {
	Group     string
	Version   string
	Kind      string
	Namespace string
	Name      string
	UID       string // empty when not created yet
	// Resource is the kubectl name (deployments.apps, configmaps). For
	// manifests it is guessed from the kind; Resolve takes it from the
	// cluster's discovery.
	Resource string
	// ClusterScoped is set (by Resolve, or a caller that read the live
	// object) when discovery says the kind is cluster-scoped, whatever the
	// rule guessed: ImportID then gives "name".
	ClusterScoped bool
}

// Ref returns the object as an events.ObjectRef in cluster.
func (o Object) Ref(cluster string) events.ObjectRef {
	return events.ObjectRef{Cluster: cluster, Group: o.Group, Version: o.Version, Kind: o.Kind,
		Namespace: o.Namespace, Name: o.Name, UID: o.UID}
}

// APIVersion is group/version.
func (o Object) APIVersion() string { return APIVersion(o.Group, o.Version) }

// IdentityKey names the object whatever API version it is read through:
// canonical group, kind, namespace and name. Two resources with the same key
// manage the same live object.
func IdentityKey(group, kind, namespace, name string) string {
	return CanonicalGroup(group, kind) + "/" + kind + "/" + namespace + "/" + name
}

// Key is IdentityKey of o.
func (o Object) Key() string { return IdentityKey(o.Group, o.Kind, o.Namespace, o.Name) }

// RefKey is IdentityKey of an events.ObjectRef.
func RefKey(r events.ObjectRef) string { return IdentityKey(r.Group, r.Kind, r.Namespace, r.Name) }

// ErrUnknownObject is returned by ObjectOf when the values do not name an
// object (not created yet with an unknown name, or not a Kubernetes type).
var ErrUnknownObject = errors.New("values do not name a Kubernetes object")

// ObjectOf returns the object a resource instance of tfType manages, read
// from its attribute values (from state, or a plan's before/after).
func ObjectOf(tfType string, values map[string]any) (Object, error) {
	if values == nil {
		return Object{}, ErrUnknownObject
	}
	switch tfType {
	case TypeKubectlManifest:
		return kubectlObject(values)
	case TypeKubernetesManifest:
		return manifestObject(values)
	}
	if p, ok := patchTypes[tfType]; ok {
		return patchObject(p, values)
	}
	k, ok := KindOf(tfType)
	if !ok {
		return Object{}, fmt.Errorf("%w: %s is not a Kubernetes resource type", ErrUnknownObject, tfType)
	}
	md := firstBlock(values["metadata"])
	name := str(md["name"])
	if name == "" {
		return Object{}, fmt.Errorf("%w: %s has no metadata.name", ErrUnknownObject, tfType)
	}
	o := Object{Group: k.Group, Version: k.Version, Kind: k.Kind, Name: name, UID: str(md["uid"]), Resource: k.Plural()}
	if k.Namespaced {
		o.Namespace = str(md["namespace"])
		if o.Namespace == "" {
			o.Namespace = "default"
		}
	}
	return o, nil
}

func kubectlObject(v map[string]any) (Object, error) {
	o := Object{Name: str(v["name"]), Namespace: str(v["namespace"]), Kind: str(v["kind"]), UID: str(v["uid"])}
	o.Group, o.Version = SplitAPIVersion(str(v["api_version"]))
	if o.Kind == "" || o.Name == "" || o.Version == "" {
		m, err := ParseManifest(str(v["yaml_body"]))
		if err != nil {
			return Object{}, fmt.Errorf("%w: kubectl_manifest: %v", ErrUnknownObject, err)
		}
		o = manifestIdentity(m)
		o.UID = str(v["uid"])
	}
	if ns := str(v["override_namespace"]); ns != "" {
		o.Namespace = ns
	}
	if o.Kind == "" || o.Name == "" {
		return Object{}, fmt.Errorf("%w: kubectl_manifest has no kind or name", ErrUnknownObject)
	}
	o.Resource = ResourceName(GuessPlural(o.Kind), o.Group)
	return o, nil
}

func manifestObject(v map[string]any) (Object, error) {
	m, _ := Unwrap(v["manifest"]).(map[string]any)
	if m == nil {
		m, _ = Unwrap(v["object"]).(map[string]any)
	}
	if m == nil {
		return Object{}, fmt.Errorf("%w: kubernetes_manifest has no manifest", ErrUnknownObject)
	}
	o := manifestIdentity(m)
	if obj, ok := Unwrap(v["object"]).(map[string]any); ok {
		if md, ok := obj["metadata"].(map[string]any); ok {
			o.UID = str(md["uid"])
		}
	}
	if o.Kind == "" || o.Name == "" {
		return Object{}, fmt.Errorf("%w: kubernetes_manifest has no kind or name", ErrUnknownObject)
	}
	o.Resource = ResourceName(GuessPlural(o.Kind), o.Group)
	return o, nil
}

func manifestIdentity(m map[string]any) Object {
	var o Object
	o.Group, o.Version = SplitAPIVersion(str(m["apiVersion"]))
	o.Kind = str(m["kind"])
	if md, ok := m["metadata"].(map[string]any); ok {
		o.Name, o.Namespace = str(md["name"]), str(md["namespace"])
	}
	return o
}

// ParseManifest parses one YAML or JSON Kubernetes manifest.
func ParseManifest(body string) (map[string]any, error) {
	if strings.TrimSpace(body) == "" {
		return nil, errors.New("empty manifest")
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	return m, nil
}

// ErrNotImportable is returned by ImportID for types that cannot be imported.
var ErrNotImportable = errors.New("resource type cannot be imported")

// ImportID is the ID `tofu import ADDRESS ID` takes to adopt the live object
// o into a resource of tfType:
//
//   - typed kubernetes_* (1.13 unversioned names and 2.x/3.x _v1/_v2 names
//     alike): "namespace/name", or "name" for cluster-scoped kinds;
//   - kubectl_manifest: "apiVersion//kind//name//namespace", or
//     "apiVersion//kind//name" for cluster-scoped objects;
//   - kubernetes_manifest: "apiVersion=v1,kind=ConfigMap,namespace=ns,name=n"
//     (namespace left out for cluster-scoped objects);
//   - patch-style types (kubernetes_labels, ...): ErrNotImportable — they
//     patch an object someone else owns, and apply adopts the fields.
//     Their state ids are apiVersion=apps/v1,kind=Deployment,name=n,namespace=ns
//     (labels, annotations, env) and namespace/name (config_map_v1_data).
//
// The import ID of kubectl_manifest is the same for gavinbunney/kubectl
// 1.19 and alekc/kubectl 2.x.
//   - helm_release: "namespace/name" of the release o names (namespace
//     "default" when empty).
func ImportID(tfType string, o Object) (string, error) {
	if o.Name == "" {
		return "", fmt.Errorf("import id for %s: object has no name", tfType)
	}
	switch tfType {
	case TypeKubectlManifest:
		id := o.APIVersion() + "//" + o.Kind + "//" + o.Name
		if o.Namespace != "" {
			id += "//" + o.Namespace
		}
		return id, nil
	case TypeHelmRelease: // helm.go: o names the release
		return HelmRelease{Namespace: o.Namespace, Name: o.Name}.importID(), nil
	case TypeKubernetesManifest:
		parts := []string{"apiVersion=" + o.APIVersion(), "kind=" + o.Kind}
		if o.Namespace != "" {
			parts = append(parts, "namespace="+o.Namespace)
		}
		return strings.Join(append(parts, "name="+o.Name), ","), nil
	}
	if IsPatch(tfType) {
		return "", fmt.Errorf("import id for %s: %w (it patches an object someone else owns)", tfType, ErrNotImportable)
	}
	k, ok := KindOf(tfType)
	if !ok {
		return "", fmt.Errorf("import id for %s: %w", tfType, ErrUnknownObject)
	}
	if !k.Importable {
		return "", fmt.Errorf("import id for %s: %w", tfType, ErrNotImportable)
	}
	if k.Namespaced && !o.ClusterScoped {
		ns := o.Namespace
		if ns == "" {
			ns = "default"
		}
		return ns + "/" + o.Name, nil
	}
	return o.Name, nil
}

func firstBlock(v any) map[string]any {
	switch b := v.(type) {
	case []any:
		if len(b) > 0 {
			m, _ := b[0].(map[string]any)
			return m
		}
	case map[string]any:
		return b
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Unwrap returns the plain value of an attribute whose type is dynamic
// (kubernetes_manifest manifest and object): raw state (format 4) stores
// such a value as {"value": V, "type": T}; show -json and plans hold V.
// Anything else is returned as it is.
func Unwrap(v any) any {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 2 {
		return v
	}
	val, hasValue := m["value"]
	t, hasType := m["type"]
	if !hasValue || !hasType {
		return v
	}
	switch t.(type) {
	case string, []any:
		return val
	}
	return v
}

// DynamicAttr reports whether the top-level attribute of tfType has a
// dynamic type (stored in raw state as {"value", "type"}).
func DynamicAttr(tfType, attr string) bool {
	return tfType == TypeKubernetesManifest && (attr == "manifest" || attr == "object")
}

// Dynamic wraps v the way raw state stores a dynamic-typed attribute:
// {"value": v, "type": its type}, the type being what a configuration
// literal of that value has (objects, tuples, strings, numbers, bools).
func Dynamic(v any) map[string]any {
	return map[string]any{"value": v, "type": ctyType(v)}
}

func ctyType(v any) any {
	switch x := v.(type) {
	case nil:
		return "dynamic"
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, int, int64, json.Number:
		return "number"
	case map[string]any:
		attrs := make(map[string]any, len(x))
		for k, e := range x {
			attrs[k] = ctyType(e)
		}
		return []any{"object", attrs}
	case []any:
		elems := make([]any, len(x))
		for i, e := range x {
			elems[i] = ctyType(e)
		}
		return []any{"tuple", elems}
	}
	return "dynamic"
}
