package gate

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDeclaredImports(t *testing.T) {
	p := filepath.Join(t.TempDir(), "driftgate_imports.tf")
	src := "# to = not.this\nimport {\n  to = kubernetes_config_map.keyed[\"q\\\"uote\"]\n  id = \"shop/keyed-quote\"\n}\n" +
		"resource \"kubernetes_config_map\" \"x\" {\n  to = 1\n}\nimport {\n  to = kubernetes_namespace.shop\n  id = \"shop\"\n}\n"
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := DeclaredImports(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{`kubernetes_config_map.keyed["q\"uote"]`: true, "kubernetes_namespace.shop": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	if got, err := DeclaredImports(filepath.Join(t.TempDir(), "none.tf")); err != nil || len(got) != 0 {
		t.Errorf("missing file: %v %v", got, err)
	}
}

func TestStatusPendingImports(t *testing.T) {
	r := &Report{Clean: true, Imports: []PendingImport{{Address: "a", File: DefaultImportsFile}, {Address: "b", File: DefaultImportsFile}}}
	if got := r.status(); got != "CLEAN (2 imports pending in driftgate_imports.tf, nothing else)" {
		t.Errorf("status %q", got)
	}
	r.Imports = append(r.Imports, PendingImport{Address: "c"})
	if got := r.status(); got != "CLEAN (3 imports pending in the configuration, nothing else)" {
		t.Errorf("status %q", got)
	}
	r.Imports[0].Blocking, r.Clean = []string{"a: spec.replicas: 2 -> 3"}, false
	if got := r.status(); got != "DRIFT (1 finding(s) fail the gate)" {
		t.Errorf("status %q", got)
	}
}
