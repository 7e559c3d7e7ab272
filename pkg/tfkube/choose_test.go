package tfkube

import (
	"os"
	"testing"
)

// TestTypeForProvider321 chooses from the schema of the real provider
// 3.2.1: the versioned names (the unversioned ones are deprecated) and
// kubernetes_manifest for a custom resource.
func TestTypeForProvider321(t *testing.T) {
	b, err := os.ReadFile("../../testdata/kubernetes-3.2.1/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ group, version, kind, want string }{
		{"", "v1", "ConfigMap", "kubernetes_config_map_v1"},
		{"", "v1", "Secret", "kubernetes_secret_v1"},
		{"apps", "v1", "Deployment", "kubernetes_deployment_v1"},
		{"", "v1", "Namespace", "kubernetes_namespace_v1"},
		{"rbac.authorization.k8s.io", "v1", "ClusterRole", "kubernetes_cluster_role_v1"},
		{"autoscaling", "v2", "HorizontalPodAutoscaler", "kubernetes_horizontal_pod_autoscaler_v2"},
		{"autoscaling", "v1", "HorizontalPodAutoscaler", "kubernetes_horizontal_pod_autoscaler_v1"},
		{"networking.k8s.io", "v1", "Ingress", "kubernetes_ingress_v1"},
		{"", "v1", "ServiceAccount", "kubernetes_service_account_v1"},
		{"postgresql.cnpg.io", "v1", "Cluster", TypeKubernetesManifest},
	} {
		got, err := c.TypeFor(tc.group, tc.version, tc.kind)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s %s: %q %v, want %q", tc.group, tc.version, tc.kind, got, err, tc.want)
		}
	}
}

// TestTypeForProvider1134 chooses from the types of hashicorp/kubernetes
// 1.13.4 and gavinbunney/kubectl (the lab's providers): the unversioned
// names, and kubectl_manifest for a custom resource (1.13.4 has no
// kubernetes_manifest).
func TestTypeForProvider1134(t *testing.T) {
	c := Catalog{types: map[string]string{TypeKubectlManifest: "registry.terraform.io/gavinbunney/kubectl"}, deprecated: map[string]bool{}}
	for _, typ := range legacyTypes {
		c.types[typ] = "registry.terraform.io/hashicorp/kubernetes"
	}
	for _, tc := range []struct{ group, version, kind, want string }{
		{"", "v1", "ConfigMap", "kubernetes_config_map"},
		{"", "v1", "Secret", "kubernetes_secret"},
		{"apps", "v1", "Deployment", "kubernetes_deployment"},
		{"", "v1", "ServiceAccount", "kubernetes_service_account"},
		{"postgresql.cnpg.io", "v1", "Cluster", TypeKubectlManifest},
	} {
		got, err := c.TypeFor(tc.group, tc.version, tc.kind)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s %s: %q %v, want %q", tc.group, tc.version, tc.kind, got, err, tc.want)
		}
	}
	if _, err := (Catalog{}).TypeFor("", "v1", "ConfigMap"); err == nil {
		t.Error("an empty catalog chose a type")
	}
	only := Catalog{types: map[string]string{"kubernetes_config_map": "x"}}
	if _, err := only.TypeFor("postgresql.cnpg.io", "v1", "Cluster"); err == nil {
		t.Error("a custom resource got a type without a manifest type in the catalog")
	}
}
