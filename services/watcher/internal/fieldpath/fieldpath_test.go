package fieldpath

import (
	"reflect"
	"testing"
)

func TestNotation(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"field", Field(Field("", "spec"), "replicas"), "spec.replicas"},
		{"dotted key as is", Field("metadata.labels", "app.kubernetes.io/name"), "metadata.labels.app.kubernetes.io/name"},
		{"bracketed key", Field("data", "a[0]"), `data["a[0]"]`},
		{"empty key", Field("data", ""), `data[""]`},
		{"keyed element", Key("spec.containers", []KeyField{{"name", "web"}}), "spec.containers[name=web]"},
		{"keys sorted", Key("spec.ports", []KeyField{{"protocol", "TCP"}, {"port", int64(80)}}), "spec.ports[port=80,protocol=TCP]"},
		{"odd key value", Key("env", []KeyField{{"name", "a,b"}}), `env[name="a,b"]`},
		{"index", Index("spec.rules", 2), "spec.rules[2]"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestSegmentsAndAncestors(t *testing.T) {
	p := `spec.template.spec.containers[name=web].env[name="a]b"].value`
	wantSegs := []string{"spec", ".template", ".spec", ".containers", "[name=web]", ".env", `[name="a]b"]`, ".value"}
	if got := Segments(p); !reflect.DeepEqual(got, wantSegs) {
		t.Fatalf("Segments = %q, want %q", got, wantSegs)
	}
	wantAnc := []string{"spec", "spec.template", "spec.template.spec", "spec.template.spec.containers",
		"spec.template.spec.containers[name=web]", "spec.template.spec.containers[name=web].env",
		`spec.template.spec.containers[name=web].env[name="a]b"]`}
	if got := Ancestors(p); !reflect.DeepEqual(got, wantAnc) {
		t.Fatalf("Ancestors = %q, want %q", got, wantAnc)
	}
	if Ancestors("spec") == nil || len(Ancestors("spec")) != 0 {
		t.Fatalf("Ancestors(spec) = %q, want empty", Ancestors("spec"))
	}
}

func TestIsElementUnderTop(t *testing.T) {
	for p, want := range map[string]bool{
		"spec.containers[name=web]": true,
		"spec.rules[0]":             true,
		`data["a[0]"]`:              false,
		`x["odd.name"=1]`:           true,
		"spec.replicas":             false,
	} {
		if got := IsElement(p); got != want {
			t.Errorf("IsElement(%q) = %v, want %v", p, got, want)
		}
	}
	if !Under("spec.replicas", "spec") || !Under("spec", "spec") || Under("specs", "spec") || !Under("a[0].b", "a") {
		t.Error("Under is wrong")
	}
	if Top("metadata.labels.app") != "metadata" || Top(`data["x"]`) != "data" || Top("spec") != "spec" {
		t.Error("Top is wrong")
	}
}

func TestFromFieldsV1(t *testing.T) {
	raw := []byte(`{
	  "f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {".": {}, "v:\"example.com/x\"": {}}},
	  "f:spec": {
	    "f:replicas": {},
	    "f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}},
	    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}
	  }
	}`)
	o, err := FromFieldsV1(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"metadata.finalizers",
		"metadata.labels",
		"metadata.labels.app",
		"spec.ports[port=80,protocol=TCP]",
		"spec.ports[port=80,protocol=TCP].port",
		"spec.ports[port=80,protocol=TCP].targetPort",
		"spec.replicas",
		"spec.template.spec.containers[name=web]",
		"spec.template.spec.containers[name=web].image",
		"spec.template.spec.containers[name=web].name",
	}
	if !reflect.DeepEqual(o.Paths, want) {
		t.Errorf("paths:\n got %q\nwant %q", o.Paths, want)
	}
	if got := o.ListKeys["spec.ports"]; !reflect.DeepEqual(got, []string{"port", "protocol"}) {
		t.Errorf("list keys of spec.ports = %q", got)
	}
	if got := o.ListKeys["spec.template.spec.containers"]; !reflect.DeepEqual(got, []string{"name"}) {
		t.Errorf("list keys of containers = %q", got)
	}
	if _, err := FromFieldsV1([]byte(`{"f:spec": [`)); err == nil {
		t.Error("broken fieldsV1 parsed without error")
	}
}
