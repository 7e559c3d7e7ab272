package tfkube

import (
	"errors"
	"reflect"
	"testing"
)

func TestImportID(t *testing.T) {
	tests := []struct {
		name   string
		tfType string
		obj    Object
		want   string
		err    error
	}{
		{"namespaced typed", "kubernetes_deployment", Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, "shop/web", nil},
		{"namespaced typed, namespace defaulted", "kubernetes_config_map", Object{Version: "v1", Kind: "ConfigMap", Name: "cfg"}, "default/cfg", nil},
		{"cluster-scoped typed", "kubernetes_namespace", Object{Version: "v1", Kind: "Namespace", Name: "shop"}, "shop", nil},
		{"cluster role", "kubernetes_cluster_role", Object{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole", Name: "reader"}, "reader", nil},
		{"secret", "kubernetes_secret", Object{Version: "v1", Kind: "Secret", Namespace: "shop", Name: "db"}, "shop/db", nil},
		{"kubectl namespaced", "kubectl_manifest", Object{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: "db", Name: "pg"}, "postgresql.cnpg.io/v1//Cluster//pg//db", nil},
		{"kubectl core", "kubectl_manifest", Object{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "cfg"}, "v1//ConfigMap//cfg//shop", nil},
		{"kubectl cluster-scoped", "kubectl_manifest", Object{Version: "v1", Kind: "Namespace", Name: "shop"}, "v1//Namespace//shop", nil},
		{"kubernetes_manifest", "kubernetes_manifest", Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, "apiVersion=apps/v1,kind=Deployment,namespace=shop,name=web", nil},
		{"kubernetes_manifest cluster-scoped", "kubernetes_manifest", Object{Version: "v1", Kind: "Namespace", Name: "shop"}, "apiVersion=v1,kind=Namespace,name=shop", nil},
		{"default service account", "kubernetes_default_service_account", Object{Version: "v1", Kind: "ServiceAccount", Namespace: "shop", Name: "default"}, "", ErrNotImportable},
		{"unknown type", "random_id", Object{Name: "x"}, "", ErrUnknownObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ImportID(tt.tfType, tt.obj)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ImportID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestObjectOf(t *testing.T) {
	tests := []struct {
		name   string
		tfType string
		values map[string]any
		want   Object
	}{
		{"deployment", "kubernetes_deployment", map[string]any{
			"metadata": []any{map[string]any{"name": "web", "namespace": "shop", "uid": "u1"}},
		}, Object{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web", UID: "u1", Resource: "deployments.apps"}},
		{"namespace", "kubernetes_namespace", map[string]any{
			"metadata": []any{map[string]any{"name": "shop"}},
		}, Object{Version: "v1", Kind: "Namespace", Name: "shop", Resource: "namespaces"}},
		{"kubectl computed attributes", "kubectl_manifest", map[string]any{
			"api_version": "postgresql.cnpg.io/v1", "kind": "Cluster", "name": "pg", "namespace": "db", "uid": "u2",
		}, Object{Group: "postgresql.cnpg.io", Version: "v1", Kind: "Cluster", Namespace: "db", Name: "pg", UID: "u2", Resource: "clusters.postgresql.cnpg.io"}},
		{"kubectl from yaml_body", "kubectl_manifest", map[string]any{
			"yaml_body": "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: shop\n  namespace: argocd\n",
		}, Object{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application", Namespace: "argocd", Name: "shop", Resource: "applications.argoproj.io"}},
		{"kubectl override namespace", "kubectl_manifest", map[string]any{
			"yaml_body": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n", "override_namespace": "x",
		}, Object{Version: "v1", Kind: "ConfigMap", Namespace: "x", Name: "c", Resource: "configmaps"}},
		{"kubernetes_manifest", "kubernetes_manifest", map[string]any{
			"manifest": map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "s", "namespace": "shop"}},
			"object":   map[string]any{"metadata": map[string]any{"uid": "u3"}},
		}, Object{Version: "v1", Kind: "Service", Namespace: "shop", Name: "s", UID: "u3", Resource: "services"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ObjectOf(tt.tfType, tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if _, err := ObjectOf("kubernetes_deployment", map[string]any{"metadata": []any{}}); !errors.Is(err, ErrUnknownObject) {
		t.Fatalf("no name: err = %v", err)
	}
}

func TestClassifyAttr(t *testing.T) {
	tests := []struct {
		tfType string
		path   Path
		want   Attr
	}{
		{"kubernetes_deployment", Path{"spec", 0, "replicas"}, Attr{AttrField, "spec.replicas"}},
		{"kubernetes_deployment", Path{"metadata", 0, "labels", "app.kubernetes.io/name"}, Attr{AttrField, "metadata.labels.app.kubernetes.io/name"}},
		{"kubernetes_deployment", Path{"spec", 0, "template", 0, "spec", 0, "container", 1, "image"}, Attr{AttrField, "spec.template.spec.containers[1].image"}},
		{"kubernetes_deployment", Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "volume_mount", 0, "mount_path"}, Attr{AttrField, "spec.template.spec.containers[0].volumeMounts[0].mountPath"}},
		{"kubernetes_deployment", Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "resources", 0, "limits", 0, "cpu"}, Attr{AttrField, "spec.template.spec.containers[0].resources.limits.cpu"}},
		{"kubernetes_deployment", Path{"spec", 0, "strategy", 0, "rolling_update", 0, "max_surge"}, Attr{AttrField, "spec.strategy.rollingUpdate.maxSurge"}},
		{"kubernetes_deployment", Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "args", 2}, Attr{AttrField, "spec.template.spec.containers[0].args[2]"}},
		{"kubernetes_service", Path{"spec", 0, "cluster_ip"}, Attr{AttrField, "spec.clusterIP"}},
		{"kubernetes_service", Path{"spec", 0, "port", 0, "target_port"}, Attr{AttrField, "spec.ports[0].targetPort"}},
		{"kubernetes_service", Path{"spec", 0, "selector", "app"}, Attr{AttrField, "spec.selector.app"}},
		{"kubernetes_config_map", Path{"data", "LOG_LEVEL"}, Attr{AttrField, "data.LOG_LEVEL"}},
		{"kubernetes_secret", Path{"binary_data", "key"}, Attr{AttrField, "binaryData.key"}},
		{"kubernetes_role", Path{"rule", 0, "api_groups", 0}, Attr{AttrField, "rules[0].apiGroups[0]"}},
		{"kubernetes_role_binding", Path{"subject", 1, "name"}, Attr{AttrField, "subjects[1].name"}},
		{"kubernetes_role_binding", Path{"role_ref", 0, "name"}, Attr{AttrField, "roleRef.name"}},
		{"kubernetes_storage_class", Path{"storage_provisioner"}, Attr{AttrField, "provisioner"}},
		{"kubernetes_deployment", Path{"metadata", 0, "resource_version"}, Attr{AttrNoise, ""}},
		{"kubernetes_deployment", Path{"metadata", 0, "generation"}, Attr{AttrNoise, ""}},
		{"kubernetes_deployment", Path{"id"}, Attr{AttrNoise, ""}},
		{"kubernetes_deployment", Path{"wait_for_rollout"}, Attr{AttrTerraform, ""}},
		{"kubernetes_deployment", Path{"timeouts"}, Attr{AttrTerraform, ""}},
		{"kubectl_manifest", Path{"yaml_body"}, Attr{AttrConfig, ""}},
		{"kubectl_manifest", Path{"yaml_incluster"}, Attr{AttrLive, ""}},
		{"kubectl_manifest", Path{"live_uid"}, Attr{AttrField, "metadata.uid"}},
		{"kubectl_manifest", Path{"force_new"}, Attr{AttrTerraform, ""}},
		{"kubernetes_manifest", Path{"object", "spec", "replicas"}, Attr{AttrField, "spec.replicas"}},
		{"kubernetes_manifest", Path{"object", "spec", "containers", 0, "image"}, Attr{AttrField, "spec.containers[0].image"}},
		{"kubernetes_manifest", Path{"object", "metadata", "resourceVersion"}, Attr{AttrNoise, ""}},
		// One bookkeeping list for both provider styles: selfLink was a field
		// of kubernetes_manifest's object, self_link noise of typed resources.
		{"kubernetes_manifest", Path{"object", "metadata", "selfLink"}, Attr{AttrNoise, ""}},
		{"kubernetes_deployment", Path{"metadata", 0, "self_link"}, Attr{AttrNoise, ""}},
		{"kubernetes_deployment", Path{"metadata", 0, "uid"}, Attr{AttrNoise, ""}},
		{"kubernetes_manifest", Path{"object", "metadata", "labels", "app"}, Attr{AttrField, "metadata.labels.app"}},
		// Odd map keys are written in the shared notation.
		{"kubernetes_config_map", Path{"data", "a[0]"}, Attr{AttrField, `data["a[0]"]`}},
		{"kubernetes_manifest", Path{"object", "data", ""}, Attr{AttrField, `data[""]`}},
		{"kubernetes_manifest", Path{"manifest", "data", "k"}, Attr{AttrConfig, "data.k"}},
		{"kubernetes_manifest", Path{"wait"}, Attr{AttrTerraform, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.tfType+"/"+tt.path.String(), func(t *testing.T) {
			if got := ClassifyAttr(tt.tfType, tt.path); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name          string
		before, after any
		want          []Path
	}{
		{"equal", map[string]any{"a": "x"}, map[string]any{"a": "x"}, nil},
		{"scalar", map[string]any{"spec": []any{map[string]any{"replicas": 2.0}}}, map[string]any{"spec": []any{map[string]any{"replicas": 5.0}}}, []Path{{"spec", 0, "replicas"}}},
		{"label added", map[string]any{"labels": map[string]any{"app": "x"}}, map[string]any{"labels": map[string]any{"app": "x", "team": "y"}}, []Path{{"labels", "team"}}},
		{"labels from null", map[string]any{"labels": nil}, map[string]any{"labels": map[string]any{"team": "y"}}, []Path{{"labels", "team"}}},
		{"null equals empty", map[string]any{"a": nil, "b": "", "c": []any{}, "d": map[string]any{}}, map[string]any{"a": "", "b": nil, "c": nil, "d": nil}, nil},
		{"list element added", map[string]any{"l": []any{"a"}}, map[string]any{"l": []any{"a", "b"}}, []Path{{"l", 1}}},
		{"list element removed", map[string]any{"l": []any{map[string]any{"n": "a"}, map[string]any{"n": "b"}}}, map[string]any{"l": []any{map[string]any{"n": "a"}}}, []Path{{"l", 1, "n"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.before, tt.after)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSensitive(t *testing.T) {
	mask := map[string]any{"data": true, "metadata": []any{map[string]any{"annotations": map[string]any{"token": true}}}}
	tests := []struct {
		path Path
		want bool
	}{
		{Path{"data", "password"}, true},
		{Path{"data"}, true},
		{Path{"metadata", 0, "annotations", "token"}, true},
		{Path{"metadata", 0, "annotations", "other"}, false},
		{Path{"metadata"}, true}, // holds a sensitive leaf
		{Path{"spec", 0, "replicas"}, false},
	}
	for _, tt := range tests {
		if got := Sensitive(mask, tt.path); got != tt.want {
			t.Errorf("Sensitive(%v) = %v, want %v", tt.path, got, tt.want)
		}
	}
	if !Sensitive(true, Path{"anything"}) {
		t.Error("a mask of true covers everything")
	}
}

func TestFieldMatching(t *testing.T) {
	if !FieldUnder("spec.template.spec.containers[0].image", "spec.template.spec.containers") {
		t.Error("under list")
	}
	if !FieldMatches("spec.template.spec.containers[0].image", "spec.template.spec.containers[name=app].image") {
		t.Error("selectors differ")
	}
	if FieldUnder("spec.replicas", "spec.template") {
		t.Error("not under")
	}
	if !FieldUnder("metadata.labels.team", "metadata.labels") || FieldUnder("metadata.labels", "metadata.labels.team") {
		t.Error("labels")
	}
}

func TestKindMatches(t *testing.T) {
	tests := []struct {
		sel, group, kind, resource string
		want                       bool
	}{
		{"statefulsets.apps", "apps", "StatefulSet", "", true},
		{"statefulsets", "apps", "StatefulSet", "", true},
		{"StatefulSet", "apps", "StatefulSet", "", true},
		{"persistentvolumeclaims", "", "PersistentVolumeClaim", "", true},
		{"clusters.postgresql.cnpg.io", "postgresql.cnpg.io", "Cluster", "", true},
		{"deployments.apps", "apps", "StatefulSet", "", false},
		{"ingresses.networking.k8s.io", "extensions", "Ingress", "", true},
		{"networkpolicies.networking.k8s.io", "networking.k8s.io", "NetworkPolicy", "", true},
	}
	for _, tt := range tests {
		if got := KindMatches(tt.sel, tt.group, tt.kind, tt.resource); got != tt.want {
			t.Errorf("KindMatches(%q, %s/%s) = %v", tt.sel, tt.group, tt.kind, got)
		}
	}
}

func TestCamelCase(t *testing.T) {
	for in, want := range map[string]string{
		"cluster_ip": "clusterIP", "external_ips": "externalIPs", "host_pid": "hostPID", "volume_mount": "volumeMount",
		"replicas": "replicas", "service_account_name": "serviceAccountName", "non_resource_urls": "nonResourceURLs",
	} {
		if got := CamelCase(in); got != want {
			t.Errorf("CamelCase(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestTypedFieldPathKeys(t *testing.T) {
	values := map[string]any{"spec": []any{map[string]any{
		"port": []any{map[string]any{"port": 80.0, "protocol": "TCP", "target_port": "5000"}},
		"template": []any{map[string]any{"spec": []any{map[string]any{
			"container": []any{map[string]any{"name": "web", "image": "x",
				"port":         []any{map[string]any{"container_port": 5000.0, "protocol": "TCP"}},
				"volume_mount": []any{map[string]any{"mount_path": "/data"}}}},
		}}}},
	}}}
	tests := []struct {
		path Path
		want string
	}{
		{Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "image"}, "spec.template.spec.containers[name=web].image"},
		{Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "port", 0, "container_port"}, "spec.template.spec.containers[name=web].ports[containerPort=5000,protocol=TCP].containerPort"},
		{Path{"spec", 0, "template", 0, "spec", 0, "container", 0, "volume_mount", 0, "mount_path"}, "spec.template.spec.containers[name=web].volumeMounts[mountPath=/data].mountPath"},
		{Path{"spec", 0, "port", 0, "target_port"}, "spec.ports[port=80,protocol=TCP].targetPort"},
		{Path{"spec", 0, "template", 0, "spec", 0, "container", 3, "image"}, "spec.template.spec.containers[3].image"}, // not in values
	}
	for _, tt := range tests {
		if got := TypedFieldPathIn(tt.path, values); got != tt.want {
			t.Errorf("%v: got %s, want %s", tt.path, got, tt.want)
		}
	}
}
