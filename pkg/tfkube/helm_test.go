package tfkube

import "testing"

func TestHelmRelease(t *testing.T) {
	r, err := HelmReleaseOf(map[string]any{"name": "web", "namespace": "helm-app", "metadata": []any{map[string]any{"revision": float64(3)}}})
	if err != nil || r.ImportID() != "helm-app/web" || HelmRevision(map[string]any{"metadata": []any{map[string]any{"revision": float64(3)}}}) != 3 {
		t.Fatalf("%+v %v", r, err)
	}
	if r, _ := HelmReleaseOf(map[string]any{"name": "web"}); r.ImportID() != "default/web" {
		t.Errorf("no namespace: %s", r.ImportID())
	}
	if _, err := HelmReleaseOf(map[string]any{"namespace": "x"}); err == nil {
		t.Error("a release without a name")
	}
	for _, c := range []struct {
		o    Object
		want string
	}{{Object{Namespace: "helm-app", Name: "web"}, "helm-app/web"}, {Object{Name: "web"}, "default/web"}} {
		if got, err := ImportID(TypeHelmRelease, c.o); err != nil || got != c.want {
			t.Errorf("ImportID(helm_release, %+v) = %q, %v; want %q", c.o, got, err, c.want)
		}
	}
	for m, want := range map[string]bool{"helm": true, "Helm": true, "terraform-provider-helm_v1.3.2": true,
		"Go-http-client": false, "kubectl-patch": false, "helm-controller": false} {
		if IsHelmManager(m) != want {
			t.Errorf("IsHelmManager(%q) = %v", m, !want)
		}
	}
}
