package manifest

import (
	"testing"
)

func TestCompare(t *testing.T) {
	live := map[string]any{
		"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
		"metadata": map[string]any{"name": "db", "namespace": "db", "uid": "u-1", "resourceVersion": "42",
			"labels": map[string]any{"app.kubernetes.io/part-of": "shop"}},
		"spec": map[string]any{"instances": int64(3), "imageName": "ghcr.io/cnpg/postgresql:16", // operator default
			"postgresql": map[string]any{"parameters": map[string]any{"max_connections": "200", "shared_buffers": "128MB"}},
			"storage":    map[string]any{"size": "10Gi", "resizeInUseVolumes": true}},
		"status": map[string]any{"phase": "Cluster in healthy state"},
	}
	body := `apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: db
  namespace: db
  labels:
    app.kubernetes.io/part-of: shop
spec:
  instances: 3
  postgresql:
    parameters:
      max_connections: "200"
  storage:
    size: 10Gi
`
	got, err := Compare(body, live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("operator defaults counted: %+v", got)
	}
	got, _ = Compare(body+"  enableSuperuserAccess: true\n", live, nil)
	if len(got) != 1 || got[0].Key != "spec.enableSuperuserAccess" || !got[0].Missing {
		t.Errorf("a field live lacks: %+v", got)
	}
	live["spec"].(map[string]any)["instances"] = int64(1)
	got, _ = Compare(body, live, nil)
	if len(got) != 1 || got[0].Key != "spec.instances" || got[0].Config != "3" || got[0].Live != "1" {
		t.Errorf("instances: %+v", got)
	}
	if got, _ := Compare(body, live, []string{"spec.instances"}); len(got) != 0 {
		t.Errorf("ignore_fields not honoured: %+v", got)
	}
	list := map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}
	if got, _ := Compare("spec:\n  ports:\n  - port: 80\n  - port: 81\n", list, nil); len(got) != 2 || got[0].Field() != "spec.ports" {
		t.Errorf("list: %+v", got)
	}
}

// TestCompareControlFields: the control fields are tfkube.ControlField's,
// the union of the planner's and the importer's former lists; selfLink was
// only the planner's.
func TestCompareControlFields(t *testing.T) {
	live := map[string]any{"metadata": map[string]any{"name": "c", "selfLink": "/api/v1/x",
		"finalizers": []any{"example.com/keep"}, "ownerReferences": []any{map[string]any{"uid": "u-2"}}}}
	body := "metadata:\n  name: c\n  selfLink: /api/v1/y\n  finalizers: [example.com/other]\n  ownerReferences:\n  - uid: u-1\nstatus:\n  phase: x\n"
	if got, err := Compare(body, live, nil); err != nil || len(got) != 0 {
		t.Errorf("control fields counted: %+v %v", got, err)
	}
}
