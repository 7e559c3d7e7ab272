package tfkube

// This file knows the patch-style resources of hashicorp/kubernetes 2.x/3.x:
// each manages a few fields of an object that someone else created and owns
// (kubernetes_labels adds labels to a Deployment made by kubectl), with
// server-side apply under its own field manager.

import (
	"fmt"
	"strings"
)

// Patch describes a patch-style resource type.
type Patch struct {
	Type string
	// Group, Version and Kind of the patched object when the type fixes
	// them (ConfigMap for kubernetes_config_map_v1_data, Node for
	// kubernetes_node_taint); empty when the resource names them in
	// api_version and kind.
	Group, Version, Kind string
	Namespaced           bool
}

// DefaultFieldManager is the field manager of kubernetes_manifest and the
// patch-style resources when field_manager is not set.
const DefaultFieldManager = "Terraform"

// TypedFieldManager is the field manager the typed kubernetes_* resources
// of provider 2.x/3.x write with (operation Update).
const TypedFieldManager = "HashiCorp"

var patchTypes = map[string]Patch{
	"kubernetes_labels":             {Type: "kubernetes_labels", Namespaced: true},
	"kubernetes_annotations":        {Type: "kubernetes_annotations", Namespaced: true},
	"kubernetes_env":                {Type: "kubernetes_env", Namespaced: true},
	"kubernetes_config_map_v1_data": {Type: "kubernetes_config_map_v1_data", Version: "v1", Kind: "ConfigMap", Namespaced: true},
	"kubernetes_secret_v1_data":     {Type: "kubernetes_secret_v1_data", Version: "v1", Kind: "Secret", Namespaced: true},
	"kubernetes_node_taint":         {Type: "kubernetes_node_taint", Version: "v1", Kind: "Node"},
}

// PatchOf returns the patch-style type tfType, if it is one.
func PatchOf(tfType string) (Patch, bool) {
	p, ok := patchTypes[tfType]
	return p, ok
}

// IsPatch reports whether tfType manages only some fields of an object
// someone else owns: such a resource never makes its object "unimported"
// or "unmanaged", and drifts only in the fields it manages.
func IsPatch(tfType string) bool {
	_, ok := patchTypes[tfType]
	return ok
}

// ServerSideApply reports whether resources of tfType write with
// server-side apply (kubernetes_manifest, the patch-style types,
// kubectl_manifest with server_side_apply = true): after
// another manager took one of their fields, apply fails with a field
// manager conflict unless forced.
func ServerSideApply(tfType string, values map[string]any) bool {
	if tfType == TypeKubectlManifest {
		b, _ := values["server_side_apply"].(bool)
		return b
	}
	return tfType == TypeKubernetesManifest || IsPatch(tfType)
}

// FieldManager is the field manager a resource instance of tfType writes
// with, read from its values: the field_manager attribute (a string for
// the patch-style types, a block with name for kubernetes_manifest), else
// the provider's default; "" for types this package does not know.
func FieldManager(tfType string, values map[string]any) string {
	switch {
	case IsPatch(tfType):
		if s := str(values["field_manager"]); s != "" {
			return s
		}
		return DefaultFieldManager
	case tfType == TypeKubernetesManifest:
		if s := str(firstBlock(values["field_manager"])["name"]); s != "" {
			return s
		}
		return DefaultFieldManager
	case tfType == TypeKubectlManifest:
		// alekc/kubectl 2.x: field_manager (default "kubectl") with
		// server_side_apply; kubectl's client-side apply otherwise.
		if s := str(values["field_manager"]); s != "" {
			return s
		}
		return "kubectl"
	}
	if _, ok := KindOf(tfType); ok {
		return TypedFieldManager
	}
	return ""
}

func patchObject(p Patch, v map[string]any) (Object, error) {
	md := firstBlock(v["metadata"])
	o := Object{Group: p.Group, Version: p.Version, Kind: p.Kind, Name: str(md["name"])}
	if p.Kind == "" {
		o.Group, o.Version = SplitAPIVersion(str(v["api_version"]))
		o.Kind = str(v["kind"])
	}
	if o.Kind == "" || o.Name == "" {
		return Object{}, fmt.Errorf("%w: %s has no kind or metadata.name", ErrUnknownObject, p.Type)
	}
	namespaced := p.Namespaced
	if b, ok := builtin[o.Kind]; ok && CanonicalGroup(o.Group, o.Kind) == b.group {
		namespaced = !b.cluster
	}
	if namespaced {
		o.Namespace = str(md["namespace"])
		if o.Namespace == "" {
			o.Namespace = "default"
		}
	}
	o.Resource = ResourceName(GuessPlural(o.Kind), o.Group)
	return o, nil
}

// podSpecPath is where the pod spec of a kind lives.
func podSpecPath(kind string) string {
	switch kind {
	case "Pod":
		return "spec"
	case "CronJob":
		return "spec.jobTemplate.spec.template.spec"
	}
	return "spec.template.spec"
}

// classifyPatchAttr maps an attribute path of a patch-style resource to
// the field it manages.
func classifyPatchAttr(tfType string, p Path, values any) Attr {
	top, _ := p[0].(string)
	vm, _ := values.(map[string]any)
	rest := func(prefix string) Attr {
		return Attr{Kind: AttrField, Field: joinField(prefix, FieldPath(p[1:]))}
	}
	switch top {
	case "id":
		return Attr{Kind: AttrNoise}
	case "api_version":
		return Attr{Kind: AttrField, Field: "apiVersion"}
	case "kind":
		return Attr{Kind: AttrField, Field: "kind"}
	case "metadata":
		if len(p) >= 3 {
			return Attr{Kind: AttrField, Field: "metadata." + CamelCase(fmt.Sprint(p[2]))}
		}
		return Attr{Kind: AttrField, Field: "metadata"}
	case "labels":
		return rest("metadata.labels")
	case "annotations":
		return rest("metadata.annotations")
	case "template_annotations":
		return rest("spec.template.metadata.annotations")
	case "data", "binary_data":
		if tfType == "kubernetes_config_map_v1_data" || tfType == "kubernetes_secret_v1_data" {
			return rest(CamelCase(top))
		}
	case "env":
		container, list := str(vm["container"]), "containers"
		if c := str(vm["init_container"]); c != "" {
			container, list = c, "initContainers"
		}
		f := podSpecPath(str(vm["kind"])) + "." + list
		if container != "" {
			f = Key(f, []KeyField{{Name: "name", Value: jsonScalar(container)}})
		}
		f = Field(f, "env")
		if len(p) >= 2 {
			if name, ok := ValueAt(values, append(Path{"env", p[1]}, "name")); ok && str(name) != "" {
				f = Key(f, []KeyField{{Name: "name", Value: jsonScalar(name)}})
			} else if idx, ok := Index(p[1]); ok {
				f = ListIndex(f, idx)
			}
			// name is the element's key: a change of it is the element
			// appearing or going away.
			if len(p) >= 3 && p[2] != "name" {
				f = Field(f, CamelCase(fmt.Sprint(p[2])))
			}
		}
		return Attr{Kind: AttrField, Field: f}
	case "taint":
		f := "spec.taints"
		if len(p) >= 2 {
			elem, _ := ValueAt(values, Path{"taint", p[1]})
			em, _ := elem.(map[string]any)
			if str(em["key"]) != "" {
				f = Key(f, []KeyField{{Name: "key", Value: jsonScalar(str(em["key"]))}, {Name: "effect", Value: jsonScalar(str(em["effect"]))}})
			} else if idx, ok := Index(p[1]); ok {
				f = ListIndex(f, idx)
			}
		}
		return Attr{Kind: AttrField, Field: f}
	}
	return Attr{Kind: AttrTerraform}
}

func joinField(prefix, rest string) string {
	if rest == "" {
		return prefix
	}
	if strings.HasPrefix(rest, "[") {
		return prefix + rest
	}
	return prefix + "." + rest
}
