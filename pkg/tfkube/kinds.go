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
	Type       string // kubernetes_deployment
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

// typed lists the resource types of hashicorp/kubernetes 1.13.4 with the API
// version that provider reads and writes.
var typed = map[string]Kind{}

func init() {
	for _, k := range []Kind{
		{"kubernetes_api_service", "apiregistration.k8s.io", "v1", "APIService", "apiservices", false, true},
		{"kubernetes_certificate_signing_request", "certificates.k8s.io", "v1beta1", "CertificateSigningRequest", "certificatesigningrequests", false, true},
		{"kubernetes_cluster_role", "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, true},
		{"kubernetes_cluster_role_binding", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, true},
		{"kubernetes_config_map", "", "v1", "ConfigMap", "configmaps", true, true},
		{"kubernetes_cron_job", "batch", "v1beta1", "CronJob", "cronjobs", true, true},
		{"kubernetes_csi_driver", "storage.k8s.io", "v1beta1", "CSIDriver", "csidrivers", false, true},
		{"kubernetes_daemonset", "apps", "v1", "DaemonSet", "daemonsets", true, true},
		{"kubernetes_default_service_account", "", "v1", "ServiceAccount", "serviceaccounts", true, false},
		{"kubernetes_deployment", "apps", "v1", "Deployment", "deployments", true, true},
		{"kubernetes_endpoints", "", "v1", "Endpoints", "endpoints", true, true},
		{"kubernetes_horizontal_pod_autoscaler", "autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, true},
		{"kubernetes_ingress", "extensions", "v1beta1", "Ingress", "ingresses", true, true},
		{"kubernetes_job", "batch", "v1", "Job", "jobs", true, true},
		{"kubernetes_limit_range", "", "v1", "LimitRange", "limitranges", true, true},
		{"kubernetes_mutating_webhook_configuration", "admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, true},
		{"kubernetes_namespace", "", "v1", "Namespace", "namespaces", false, true},
		{"kubernetes_network_policy", "networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, true},
		{"kubernetes_persistent_volume", "", "v1", "PersistentVolume", "persistentvolumes", false, true},
		{"kubernetes_persistent_volume_claim", "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, true},
		{"kubernetes_pod", "", "v1", "Pod", "pods", true, true},
		{"kubernetes_pod_disruption_budget", "policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", true, true},
		{"kubernetes_pod_security_policy", "policy", "v1beta1", "PodSecurityPolicy", "podsecuritypolicies", false, true},
		{"kubernetes_priority_class", "scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, true},
		{"kubernetes_replication_controller", "", "v1", "ReplicationController", "replicationcontrollers", true, true},
		{"kubernetes_resource_quota", "", "v1", "ResourceQuota", "resourcequotas", true, true},
		{"kubernetes_role", "rbac.authorization.k8s.io", "v1", "Role", "roles", true, true},
		{"kubernetes_role_binding", "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, true},
		{"kubernetes_secret", "", "v1", "Secret", "secrets", true, true},
		{"kubernetes_service", "", "v1", "Service", "services", true, true},
		{"kubernetes_service_account", "", "v1", "ServiceAccount", "serviceaccounts", true, true},
		{"kubernetes_stateful_set", "apps", "v1", "StatefulSet", "statefulsets", true, true},
		{"kubernetes_storage_class", "storage.k8s.io", "v1", "StorageClass", "storageclasses", false, true},
		{"kubernetes_validating_webhook_configuration", "admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, true},
	} {
		typed[k.Type] = k
	}
}

// TypedKind returns the kind a typed kubernetes_* resource type manages.
func TypedKind(tfType string) (Kind, bool) {
	k, ok := typed[tfType]
	return k, ok
}

// Supported reports whether tfType manages a Kubernetes object this package
// can identify: a typed kubernetes_* type, kubectl_manifest or
// kubernetes_manifest.
func Supported(tfType string) bool {
	_, ok := typed[tfType]
	return ok || tfType == TypeKubectlManifest || tfType == TypeKubernetesManifest
}

// TypedTypes lists the typed resource types, for documentation and tests.
func TypedTypes() []Kind {
	out := make([]Kind, 0, len(typed))
	for _, k := range typed {
		out = append(out, k)
	}
	return out
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
	k := strings.ToLower(kind)
	for _, known := range typed {
		if strings.ToLower(known.Kind) == k {
			return known.Resource
		}
	}
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
