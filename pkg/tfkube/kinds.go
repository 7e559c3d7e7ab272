package tfkube

import (
	"strings"
)

// Resource types handled besides the typed kubernetes_* ones.
const (
	TypeKubectlManifest    = "kubectl_manifest"
	TypeKubernetesManifest = "kubernetes_manifest"
)

// Kind is the Kubernetes kind a typed kubernetes_* resource type manages.
type Kind struct {
	Type       string // kubernetes_deployment_v1
	Group      string // apps ("" for the core group)
	Version    string // v1
	Kind       string // Deployment
	Resource   string // deployments (plural, as kubectl names it without the group)
	Namespaced bool
	// Importable is false for types the provider cannot import
	// (kubernetes_default_service_account adopts the object on create).
	Importable bool
}

// Plural is the resource as kubectl names it: deployments.apps, configmaps.
func (k Kind) Plural() string { return ResourceName(k.Resource, k.Group) }

// builtin are the API groups and scopes of the Kubernetes kinds the
// provider has typed resources for: Kubernetes' own knowledge, used when no
// discovery is at hand (Resolve corrects it from the cluster's RESTMapper).
// A kind not listed is not guessed: KindOf does not map it.
var builtin = map[string]struct {
	group   string
	cluster bool
}{
	"APIService": {"apiregistration.k8s.io", true}, "CertificateSigningRequest": {"certificates.k8s.io", true},
	"ClusterRole": {"rbac.authorization.k8s.io", true}, "ClusterRoleBinding": {"rbac.authorization.k8s.io", true},
	"Role": {"rbac.authorization.k8s.io", false}, "RoleBinding": {"rbac.authorization.k8s.io", false},
	"CronJob": {"batch", false}, "Job": {"batch", false},
	"CSIDriver": {"storage.k8s.io", true}, "StorageClass": {"storage.k8s.io", true},
	"DaemonSet": {"apps", false}, "Deployment": {"apps", false}, "StatefulSet": {"apps", false}, "ReplicaSet": {"apps", false},
	"EndpointSlice": {"discovery.k8s.io", false}, "HorizontalPodAutoscaler": {"autoscaling", false},
	"Ingress": {"networking.k8s.io", false}, "IngressClass": {"networking.k8s.io", true}, "NetworkPolicy": {"networking.k8s.io", false},
	"MutatingWebhookConfiguration": {"admissionregistration.k8s.io", true}, "ValidatingWebhookConfiguration": {"admissionregistration.k8s.io", true},
	"ValidatingAdmissionPolicy": {"admissionregistration.k8s.io", true},
	"Namespace":                 {"", true}, "PersistentVolume": {"", true}, "Node": {"", true},
	"PodDisruptionBudget": {"policy", false}, "PodSecurityPolicy": {"policy", true},
	"PriorityClass": {"scheduling.k8s.io", true}, "RuntimeClass": {"node.k8s.io", true},
	// the core group
	"ConfigMap": {}, "Secret": {}, "Service": {}, "ServiceAccount": {}, "Pod": {}, "Endpoints": {},
	"LimitRange": {}, "PersistentVolumeClaim": {}, "ReplicationController": {}, "ResourceQuota": {},
}

// irregular are the type names whose kind is not the CamelCase of the name
// (kubernetes_<snake_kind>).
var irregular = map[string]string{
	"api_service": "APIService", "csi_driver": "CSIDriver", "daemonset": "DaemonSet",
	"default_service_account": "ServiceAccount",
}

// notObjects are kubernetes_* types that name no object Terraform keeps
// (a TokenRequest is a subresource call), besides the patch-style ones.
var notObjects = map[string]bool{"token_request": true}

// unversioned are the exceptions to "an unversioned name means the kind's
// stable version": the API version hashicorp/kubernetes 1.13 reads and
// writes for these deprecated names. Every other unversioned name is v1.
var unversioned = map[string]string{
	"certificate_signing_request": "certificates.k8s.io/v1beta1",
	"cron_job":                    "batch/v1beta1",
	"csi_driver":                  "storage.k8s.io/v1beta1",
	"ingress":                     "extensions/v1beta1",
	"pod_disruption_budget":       "policy/v1beta1",
	"pod_security_policy":         "policy/v1beta1",
}

// pluralExceptions are kinds whose plural is not the rule's.
var pluralExceptions = map[string]string{"Endpoints": "endpoints"}

// KindOf derives the kind a typed resource type manages by rule:
// kubernetes_<snake_kind>[_v<N>] is the kind CamelCase(snake_kind) (a few
// irregular names excepted: daemonset, api_service, csi_driver), in the
// API version the suffix names (_v1, _v2, _v2beta2; unversioned: v1, or the
// 1.13 provider's beta version for the few names it used one for), in the
// kind's group (the built-in groups; a RESTMapper corrects it, see
// Resolve). Patch-style types (PatchOf) and manifest types are not typed
// kinds: ok is false for them, for names outside the rule, and for a kind
// Kubernetes does not serve built in (a newer provider's type: reported
// by Catalog.Check, not guessed).
func KindOf(tfType string) (Kind, bool) {
	base, ok := strings.CutPrefix(tfType, "kubernetes_")
	if !ok || base == "" || tfType == TypeKubernetesManifest {
		return Kind{}, false
	}
	if _, patch := patchTypes[tfType]; patch {
		return Kind{}, false
	}
	version := ""
	if i := strings.LastIndex(base, "_v"); i > 0 && isVersion(base[i+1:]) {
		base, version = base[:i], base[i+1:]
	}
	if notObjects[base] {
		return Kind{}, false
	}
	kind, ok := irregular[base]
	if !ok {
		kind = camelKind(base)
	}
	b, known := builtin[kind]
	if !known {
		return Kind{}, false
	}
	k := Kind{Type: tfType, Group: b.group, Version: version, Kind: kind, Namespaced: !b.cluster,
		Importable: base != "default_service_account"}
	if version == "" {
		k.Version = "v1"
		if gv, ok := unversioned[base]; ok {
			k.Group, k.Version = SplitAPIVersion(gv)
		}
	}
	k.Resource = GuessPlural(kind)
	return k, true
}

// TypedKind is KindOf.
func TypedKind(tfType string) (Kind, bool) { return KindOf(tfType) }

// isVersion reports whether s is a Kubernetes API version: v1, v2,
// v2beta2, v1alpha1.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(s[1:], "0123456789")
	for _, q := range []string{"", "alpha", "beta"} {
		if r, ok := strings.CutPrefix(rest, q); ok && (q == "" && r == "" || q != "" && r != "" && strings.Trim(r, "0123456789") == "") {
			return true
		}
	}
	return false
}

// camelKind turns a snake_case kind name into the Kind: stateful_set ->
// StatefulSet, certificate_signing_request -> CertificateSigningRequest.
func camelKind(snake string) string {
	var b strings.Builder
	for _, p := range strings.Split(snake, "_") {
		if p == "" {
			continue
		}
		b.WriteString(strings.ToUpper(p[:1]) + p[1:])
	}
	return b.String()
}

// Supported reports whether tfType manages (all or part of) a Kubernetes
// object this package can identify: a typed kubernetes_* type, a
// patch-style type, kubectl_manifest or kubernetes_manifest.
func Supported(tfType string) bool {
	if _, ok := KindOf(tfType); ok {
		return true
	}
	_, patch := patchTypes[tfType]
	return patch || tfType == TypeKubectlManifest || tfType == TypeKubernetesManifest
}

// TypedTypes lists the typed resource types of hashicorp/kubernetes 1.13.4
// (the unversioned names), for documentation and tests; Catalog lists those
// of the provider a workspace really uses.
func TypedTypes() []Kind {
	var out []Kind
	for _, t := range legacyTypes {
		if k, ok := KindOf(t); ok {
			out = append(out, k)
		}
	}
	return out
}

// legacyTypes are the typed resources of hashicorp/kubernetes 1.13.4.
var legacyTypes = []string{
	"kubernetes_api_service", "kubernetes_certificate_signing_request", "kubernetes_cluster_role",
	"kubernetes_cluster_role_binding", "kubernetes_config_map", "kubernetes_cron_job", "kubernetes_csi_driver",
	"kubernetes_daemonset", "kubernetes_default_service_account", "kubernetes_deployment", "kubernetes_endpoints",
	"kubernetes_horizontal_pod_autoscaler", "kubernetes_ingress", "kubernetes_job", "kubernetes_limit_range",
	"kubernetes_mutating_webhook_configuration", "kubernetes_namespace", "kubernetes_network_policy",
	"kubernetes_persistent_volume", "kubernetes_persistent_volume_claim", "kubernetes_pod",
	"kubernetes_pod_disruption_budget", "kubernetes_pod_security_policy", "kubernetes_priority_class",
	"kubernetes_replication_controller", "kubernetes_resource_quota", "kubernetes_role", "kubernetes_role_binding",
	"kubernetes_secret", "kubernetes_service", "kubernetes_service_account", "kubernetes_stateful_set",
	"kubernetes_storage_class", "kubernetes_validating_webhook_configuration",
}

// groupAliases are API groups that serve the same objects: an Ingress read
// through extensions/v1beta1 is the Ingress of networking.k8s.io/v1.
var groupAliases = map[string]string{
	"extensions/Ingress":       "networking.k8s.io",
	"extensions/Deployment":    "apps",
	"extensions/DaemonSet":     "apps",
	"extensions/ReplicaSet":    "apps",
	"extensions/NetworkPolicy": "networking.k8s.io",
	"batch/CronJob":            "batch",
}

// CanonicalGroup maps a group to the one the object is known by whatever
// version it is read through (extensions Ingress -> networking.k8s.io).
func CanonicalGroup(group, kind string) string {
	if g, ok := groupAliases[group+"/"+kind]; ok {
		return g
	}
	return group
}

// SplitAPIVersion splits "apps/v1" into ("apps", "v1") and "v1" into ("", "v1").
func SplitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// APIVersion joins group and version.
func APIVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

// ResourceName is the kubectl name of a resource: plural.group, or plural
// for the core group.
func ResourceName(plural, group string) string {
	if group == "" {
		return plural
	}
	return plural + "." + group
}

// GuessPlural lower-cases and pluralises a kind the way Kubernetes does for
// nearly every kind (Ingress -> ingresses, NetworkPolicy -> networkpolicies,
// Endpoints -> endpoints). It is used only when no discovery is at hand.
func GuessPlural(kind string) string {
	if p, ok := pluralExceptions[kind]; ok {
		return p
	}
	k := strings.ToLower(kind)
	switch {
	case k == "":
		return ""
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "ch"), strings.HasSuffix(k, "sh"):
		return k + "es"
	case strings.HasSuffix(k, "y") && len(k) > 1 && !strings.ContainsRune("aeiou", rune(k[len(k)-2])):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

// KindMatches reports whether a kind selector from the config (a kubectl
// resource name such as statefulsets.apps or persistentvolumeclaims, a plural
// without group, or a Kind such as StatefulSet) names the kind of group/kind
// whose plural resource is resource ("" to guess it).
func KindMatches(selector, group, kind, resource string) bool {
	if selector == "" {
		return false
	}
	if resource == "" {
		resource = GuessPlural(kind)
	}
	sel := strings.ToLower(selector)
	if strings.EqualFold(selector, kind) || strings.EqualFold(selector, kind+"."+group) {
		return true
	}
	plural, selGroup, hasGroup := strings.Cut(sel, ".")
	if plural != strings.ToLower(resource) {
		return false
	}
	if !hasGroup {
		return true
	}
	return selGroup == strings.ToLower(group) || selGroup == strings.ToLower(CanonicalGroup(group, kind))
}

// stateful kinds are high-risk by default: losing or replacing them loses data.
var statefulKinds = map[string]bool{
	"apps/StatefulSet":           true,
	"/PersistentVolumeClaim":     true,
	"/PersistentVolume":          true,
	"postgresql.cnpg.io/Cluster": true,
}

// Stateful reports whether objects of group/kind hold data (StatefulSets,
// PersistentVolumeClaims, PersistentVolumes, CNPG Clusters).
func Stateful(group, kind string) bool {
	return statefulKinds[CanonicalGroup(group, kind)+"/"+kind]
}
