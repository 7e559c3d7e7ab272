package adopt

import (
	"os"
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/events"
)

// TestSanitizeRecorded cleans the configuration the real tools generated:
// empty attributes go (OpenTofu's generate_name = "" fails validation), the
// Secret's data is left out and ignored, the ConfigMap's data stays.
func TestSanitizeRecorded(t *testing.T) {
	for _, f := range []string{"testdata/generated-tofu-v1.10.10.tf", "testdata/generated-terraform-v1.5.7.tf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := splitResources(b)
		if len(blocks) != 2 {
			t.Fatalf("%s: %d blocks: %v", f, len(blocks), blocks)
		}
		cm, left := sanitize(blocks["kubernetes_config_map.exp_app_settings"])
		if len(left) != 0 || !strings.Contains(cm, `MODE  = "blue"`) || strings.Contains(cm, "generate_name") ||
			strings.Contains(cm, "{}") || strings.Contains(cm, "__generated__") {
			t.Errorf("%s: config map:\n%s", f, cm)
		}
		sec, left := sanitize(blocks["kubernetes_secret.exp_app_token"])
		if len(left) != 1 || left[0] != "data" || strings.Contains(sec, "data = null") ||
			!strings.Contains(sec, "    ignore_changes = [data]\n  }\n}\n") || !strings.Contains(sec, `type = "Opaque"`) {
			t.Errorf("%s: secret (left %v):\n%s", f, left, sec)
		}
	}
}

// TestRenderDeterministic: the same blocks, the same bytes; addresses with
// quoted keys are written as the plan names them.
func TestRenderDeterministic(t *testing.T) {
	bl := []Block{{Address: `kubernetes_config_map.keyed["q\"uote"]`, ID: "shop/keyed-quote", Class: events.ClassUnimported,
		Risk: events.RiskLow, FindingID: "f-1", Object: events.ObjectRef{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "keyed-quote"},
		CreatedBy: "kubectl-create (Update)\nx", Hints: []string{"Helm release web"}}}
	a, b := Render("shop", bl, nil), Render("shop", bl, nil)
	if string(a) != string(b) {
		t.Fatal("two renders differ")
	}
	for _, want := range []string{"  to = kubernetes_config_map.keyed[\"q\\\"uote\"]\n", "  id = \"shop/keyed-quote\"\n",
		"#    created by kubectl-create (Update) x\n", "#    Helm release web\n", "#    finding f-1\n"} {
		if !strings.Contains(string(a), want) {
			t.Errorf("no %q in\n%s", want, a)
		}
	}
}

func TestResourceName(t *testing.T) {
	taken := map[string]bool{"kubernetes_config_map.app_settings": true}
	o := events.ObjectRef{Kind: "ConfigMap", Namespace: "shop", Name: "app-settings"}
	if got := resourceName("kubernetes_config_map", o, taken); got != "shop_app_settings" {
		t.Errorf("taken name: %s", got)
	}
	if got := resourceName("kubernetes_secret", events.ObjectRef{Name: "1.token"}, nil); got != "o_1_token" {
		t.Errorf("leading digit: %s", got)
	}
}
