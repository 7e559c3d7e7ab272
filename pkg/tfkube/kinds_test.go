package tfkube

import (
	"os"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		tfType string
		want   Kind
	}{
		{"kubernetes_deployment", Kind{"kubernetes_deployment", "apps", "v1", "Deployment", "deployments", true, true}},
		{"kubernetes_deployment_v1", Kind{"kubernetes_deployment_v1", "apps", "v1", "Deployment", "deployments", true, true}},
		{"kubernetes_ingress", Kind{"kubernetes_ingress", "extensions", "v1beta1", "Ingress", "ingresses", true, true}},
		{"kubernetes_ingress_v1", Kind{"kubernetes_ingress_v1", "networking.k8s.io", "v1", "Ingress", "ingresses", true, true}},
		{"kubernetes_horizontal_pod_autoscaler_v2", Kind{"kubernetes_horizontal_pod_autoscaler_v2", "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, true}},
		{"kubernetes_horizontal_pod_autoscaler_v2beta2", Kind{"kubernetes_horizontal_pod_autoscaler_v2beta2", "autoscaling", "v2beta2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, true}},
		{"kubernetes_cron_job", Kind{"kubernetes_cron_job", "batch", "v1beta1", "CronJob", "cronjobs", true, true}},
		{"kubernetes_cron_job_v1", Kind{"kubernetes_cron_job_v1", "batch", "v1", "CronJob", "cronjobs", true, true}},
		{"kubernetes_daemonset", Kind{"kubernetes_daemonset", "apps", "v1", "DaemonSet", "daemonsets", true, true}},
		{"kubernetes_daemon_set_v1", Kind{"kubernetes_daemon_set_v1", "apps", "v1", "DaemonSet", "daemonsets", true, true}},
		{"kubernetes_endpoints_v1", Kind{"kubernetes_endpoints_v1", "", "v1", "Endpoints", "endpoints", true, true}},
		{"kubernetes_endpoint_slice_v1", Kind{"kubernetes_endpoint_slice_v1", "discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, true}},
		{"kubernetes_namespace_v1", Kind{"kubernetes_namespace_v1", "", "v1", "Namespace", "namespaces", false, true}},
		{"kubernetes_api_service_v1", Kind{"kubernetes_api_service_v1", "apiregistration.k8s.io", "v1", "APIService", "apiservices", false, true}},
		{"kubernetes_csi_driver_v1", Kind{"kubernetes_csi_driver_v1", "storage.k8s.io", "v1", "CSIDriver", "csidrivers", false, true}},
		{"kubernetes_default_service_account_v1", Kind{"kubernetes_default_service_account_v1", "", "v1", "ServiceAccount", "serviceaccounts", true, false}},
		{"kubernetes_priority_class_v1", Kind{"kubernetes_priority_class_v1", "scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, true}},
		{"kubernetes_validating_admission_policy_v1", Kind{"kubernetes_validating_admission_policy_v1", "admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false, true}},
		{"kubernetes_secret_v1", Kind{"kubernetes_secret_v1", "", "v1", "Secret", "secrets", true, true}},
	}
	for _, tt := range tests {
		got, ok := KindOf(tt.tfType)
		if !ok || got != tt.want {
			t.Errorf("KindOf(%s) = %+v, %v\nwant %+v", tt.tfType, got, ok, tt.want)
		}
	}
	for _, notTyped := range []string{"kubernetes_manifest", "kubernetes_labels", "kubernetes_config_map_v1_data", "kubernetes_token_request_v1", "kubernetes_frobnicator_v1", "helm_release", "kubectl_manifest", "kubernetes_"} {
		if k, ok := KindOf(notTyped); ok {
			t.Errorf("KindOf(%s) = %+v, want none", notTyped, k)
		}
	}
}

// TestCatalogProvider321 reads the schema of the real provider 3.2.1: every
// resource type maps, save the one that names no object.
func TestCatalogProvider321(t *testing.T) {
	b, err := os.ReadFile("../../testdata/kubernetes-3.2.1/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 81 {
		t.Fatalf("catalog has %d types, want 81", c.Len())
	}
	if got := c.Unmapped(); !reflect.DeepEqual(got, []string{"kubernetes_token_request_v1"}) {
		t.Fatalf("unmapped = %v", got)
	}
	if !c.Deprecated("kubernetes_deployment") || c.Deprecated("kubernetes_deployment_v1") {
		t.Fatal("deprecation not read from the schema")
	}
	if err := c.Check("kubernetes_frobnicator_v1"); err == nil {
		t.Fatal("a type missing from the schema passed Check")
	}
	if err := c.Check("random_password"); err != nil {
		t.Fatalf("non-Kubernetes type: %v", err)
	}
	// Every typed type of the schema: the API version is the suffix's, the
	// unversioned ones v1 or the 1.13 beta; all legacy 1.13 names are there.
	for _, k := range TypedTypes() {
		if !c.Known(k.Type) && k.Type != "kubernetes_pod_security_policy" {
			t.Errorf("1.13 type %s not in 3.2.1's schema", k.Type)
		}
	}
}

func TestResolve(t *testing.T) {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "networking.k8s.io", Version: "v1"}, {Group: "example.com", Version: "v1"}, {Version: "v1"}})
	m.Add(schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, meta.RESTScopeRoot)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	o, err := Resolve(m, Object{Group: "extensions", Version: "v1beta1", Kind: "Ingress", Namespace: "a", Name: "x"})
	if err != nil || o.Resource != "ingresses.networking.k8s.io" || o.Namespace != "a" {
		t.Fatalf("ingress: %+v %v", o, err)
	}
	o, err = Resolve(m, Object{Group: "example.com", Version: "v1", Kind: "Widget", Namespace: "default", Name: "w"})
	if err != nil || o.Namespace != "" || o.Resource != "widgets.example.com" {
		t.Fatalf("widget: %+v %v", o, err)
	}
	if id, _ := ImportID(TypeKubernetesManifest, o); id != "apiVersion=example.com/v1,kind=Widget,name=w" {
		t.Fatalf("import id of a cluster-scoped CR: %s", id)
	}
	k, err := ResolveKind(m, Kind{Type: "kubernetes_widget_v1", Version: "v1", Kind: "Widget", Resource: "widgets", Namespaced: true})
	if err != nil || k.Group != "example.com" || k.Namespaced {
		t.Fatalf("ResolveKind: %+v %v", k, err)
	}
	if _, err := Resolve(m, Object{Group: "nope.io", Version: "v1", Kind: "Gone", Name: "g"}); err == nil {
		t.Fatal("an unserved kind resolved")
	}
}
