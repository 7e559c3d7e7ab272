package tofu

import (
	"reflect"
	"strings"
	"testing"
)

func TestPlanOptions(t *testing.T) {
	// Rendered through a fake command line: every plan is -lock=false with
	// its targets and var files.
	opts := PlanOptions{Out: "/p/x.tfplan", Targets: []string{"kubernetes_deployment.web", `module.a.kubectl_manifest.pg["x"]`},
		varFiles: []string{"/m/prod.tfvars"}, Parallelism: 4}.options()
	var kinds []string
	for _, o := range opts {
		kinds = append(kinds, strings.TrimPrefix(reflect.TypeOf(o).String(), "*tfexec."))
	}
	want := []string{"LockOption", "RefreshOption", "OutOption", "ParallelismOption", "VarFileOption", "TargetOption", "TargetOption"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("options %v, want %v", kinds, want)
	}
	if reflect.ValueOf(opts[0]).Elem().Field(0).Bool() {
		t.Fatal("lock must be false")
	}
}
