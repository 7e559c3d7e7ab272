package tfkube

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
		{"index", ListIndex("spec.rules", 2), "spec.rules[2]"},
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

func TestFieldShape(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"spec.template.spec.containers[name=web].image", []string{"spec", "template", "spec", "containers", "image"}},
		{"spec.ports[port=80,protocol=TCP].targetPort", []string{"spec", "ports", "targetPort"}},
		{"spec.rules[0]", []string{"spec", "rules"}},
		{"spec.containers.0.image", []string{"spec", "containers", "image"}}, // a flattened manifest key
		{`data["a[0]"]`, []string{"data", "a[0]"}},                           // a bracketed map key is a name
		{`env[name="a]b"].value`, []string{"env", "value"}},
		{"metadata.labels.app.kubernetes.io/name", []string{"metadata", "labels", "app", "kubernetes", "io/name"}},
	}
	for _, tt := range tests {
		if got := FieldShape(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("FieldShape(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
