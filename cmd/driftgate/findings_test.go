package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
)

func TestFindingsCommand(t *testing.T) {
	env := eventstest.Start(t)
	url := env.Server.ClientURL()
	store := findings.Store{KV: env.Buckets.Findings}
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	put := func(ws, addr, class, state string) {
		f := events.Finding{ID: events.FindingID(ws, addr, class), Workspace: ws, Address: addr, Class: class, Risk: "low",
			Object: events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"},
			Paths:  []string{"spec.replicas"}, Attribution: []events.Attribution{{Manager: "kubectl-patch", Operation: "Update"}},
			RecommendedAction: "revert", FirstSeen: now, LastSeen: now, State: state}
		if err := store.Put(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	put("marketplace", "kubernetes_deployment.web", "changed", "open")
	put("marketplace", "kubernetes_service.web", "unimported", "open")
	put("marketplace", "kubernetes_config_map.old", "changed", "resolved")
	put("operator-db", "kubectl_manifest.cluster", "ignored", "open")

	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := dispatch(append([]string{"findings", "--nats-url", url}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	out, _, code := run("-o", "json", "--workspace", "marketplace")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("json: code %d\n%s", code, out)
	}
	for _, k := range []string{"id", "workspace", "address", "object", "class", "risk", "paths", "attribution", "import_id", "recommended_action", "first_seen", "last_seen", "state"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("finding JSON lacks %q", k)
		}
	}
	if list[0]["class"] != "unimported" || list[1]["class"] != "changed" {
		t.Errorf("order: %v %v (report order: unimported before changed)", list[0]["class"], list[1]["class"])
	}
	out, _, _ = run("--state", "all", "--class", "changed", "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("--state all --class changed: %s", out)
	}
	out, _, code = run()
	if code != 0 || !strings.Contains(out, "kubernetes_deployment.web") || !strings.Contains(out, "kubectl-patch") || strings.Contains(out, "kubernetes_config_map.old") {
		t.Fatalf("table (open only):\n%s", out)
	}
	out, _, _ = run("--workspace", "nope", "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("no findings must be an empty array, got %q", out)
	}
	for _, bad := range [][]string{{"--class", "drifty"}, {"-o", "yaml"}, {"--state", "closed"}, {"extra"}} {
		_, errOut, code := run(bad...)
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 && !strings.Contains(errOut, "Usage") {
			t.Errorf("%v: code %d, stderr %q", bad, code, errOut)
		}
	}
}

func TestGateCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"gate"},
		{"gate", "--config", "/nonexistent/driftgate.yaml", "--workspace", "w"},
		{"gate", "--config", "x.yaml", "--workspace", "w", "-o", "yaml"},
	} {
		var out, errb bytes.Buffer
		code := dispatch(args, &out, &errb)
		if code != 1 || !strings.HasPrefix(errb.String(), "driftgate gate: ") || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("%v: code %d, stderr %q (want exit 1 and one line)", args, code, errb.String())
		}
	}
}
