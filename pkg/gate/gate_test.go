package gate

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
)

func result(addr, class string) classify.Result {
	return classify.Result{Finding: events.Finding{ID: events.FindingID("m", addr, class), Workspace: "m", Address: addr,
		Class: class, Risk: "low", Paths: []string{}, Attribution: []events.Attribution{}, State: "open",
		RecommendedAction: classify.RecommendedAction(class)}, Reason: "because"}
}

func TestReportClean(t *testing.T) {
	tests := []struct {
		name    string
		results []classify.Result
		allow   []string
		clean   bool
		allowed int
	}{
		{"no findings", nil, nil, true, 0},
		{"ignored only", []classify.Result{result("kubernetes_deployment.web", "ignored")}, nil, true, 0},
		{"drift", []classify.Result{result("kubernetes_deployment.web", "changed")}, nil, false, 0},
		{"unimported", []classify.Result{result("kubernetes_deployment.web", "unimported")}, nil, false, 0},
		{"unintended change", []classify.Result{result("kubernetes_deployment.web", "pending-config")}, nil, false, 0},
		{"intended change only", []classify.Result{result("kubernetes_deployment.web", "pending-config")}, []string{"kubernetes_deployment.web"}, true, 1},
		{"intended by pattern", []classify.Result{result("module.app.kubernetes_service.web", "pending-config")}, []string{"module.app.*"}, true, 1},
		{"allow does not excuse drift", []classify.Result{result("kubernetes_deployment.web", "changed")}, []string{"kubernetes_deployment.web"}, false, 0},
		{"intended plus another change", []classify.Result{result("kubernetes_deployment.web", "pending-config"), result("kubernetes_service.web", "pending-config")},
			[]string{"kubernetes_deployment.web"}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReport("m", tt.results, tt.allow, PlanInfo{Tool: "tofu"})
			if r.Clean != tt.clean || len(r.Allowed) != tt.allowed {
				t.Fatalf("clean %v allowed %d, want %v %d", r.Clean, len(r.Allowed), tt.clean, tt.allowed)
			}
			want := ExitClean
			if !tt.clean {
				want = ExitDrift
			}
			if r.ExitCode() != want {
				t.Fatalf("exit %d, want %d", r.ExitCode(), want)
			}
		})
	}
}

func TestReportOutputs(t *testing.T) {
	r := NewReport("m", []classify.Result{result("kubernetes_deployment.web", "changed"), result("kubernetes_config_map.c", "ignored")}, nil,
		PlanInfo{Tool: "tofu", ToolVersion: "1.10.10", DurationMS: 2100})
	var j bytes.Buffer
	if err := r.Write(&j, "json"); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workspace", "clean", "findings", "plan"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("json lacks %q", k)
		}
	}
	p := doc["plan"].(map[string]any)
	if _, ok := p["duration_ms"]; !ok {
		t.Error("plan.duration_ms missing")
	}
	if _, ok := p["targets"].([]any); !ok {
		t.Error("plan.targets must be an array")
	}
	f := doc["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "workspace", "address", "class", "risk", "object", "paths", "attribution", "import_id", "recommended_action", "first_seen", "last_seen", "state"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q", k)
		}
	}
	var txt, mdb bytes.Buffer
	_ = r.Write(&txt, "text")
	_ = r.Write(&mdb, "markdown")
	if !strings.Contains(txt.String(), "DRIFT") || !strings.Contains(txt.String(), "kubernetes_deployment.web") {
		t.Errorf("text:\n%s", txt.String())
	}
	if !strings.Contains(mdb.String(), "| ❌ | changed |") {
		t.Errorf("markdown:\n%s", mdb.String())
	}
	if err := r.Write(&txt, "yaml"); err == nil {
		t.Error("unknown format must fail")
	}
}
