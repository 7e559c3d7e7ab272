package route

import (
	"slices"
	"strings"
	"testing"

	"github.com/driftgate/driftgate/pkg/config"
)

func compile(t *testing.T, yaml string) *Table {
	t.Helper()
	f, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	tb, err := Compile(f.Notify)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

const routed = `
notify:
  sinks:
    - {name: ops, webhook: {url: "http://127.0.0.1:1/h", secret_env: S}}
    - {name: db, webhook: {url: "http://127.0.0.1:1/h", secret_env: S}}
  routes:
    - {match: {types: [drift.*, import.*, cluster.health]}, sinks: [ops]}
    - {match: {types: [drift.detected], workspaces: [payments], classes: [changed, deleted], min_risk: high}, sinks: [db]}
    - {match: {types: [cluster.health], min_severity: critical}, sinks: [db]}
`

func TestMatch(t *testing.T) {
	tb := compile(t, routed)
	cases := []struct {
		name string
		sink string
		a    Attrs
		want Match
	}{
		{"drift to ops", "ops", Attrs{Type: "drift.detected", Workspace: "w", Class: "changed", Risk: "low"}, Full},
		{"ignored never alerted", "ops", Attrs{Type: "drift.detected", Workspace: "w", Class: "ignored", Risk: "low"}, None},
		{"pending-config not by default", "ops", Attrs{Type: "drift.detected", Workspace: "w", Class: "pending-config", Risk: "low"}, None},
		{"import to ops", "ops", Attrs{Type: "import.failed", Workspace: "w", Risk: "low"}, Full},
		{"health warning to ops", "ops", Attrs{Type: "cluster.health", Severity: "warning"}, Full},
		{"health info below default", "ops", Attrs{Type: "cluster.health", Severity: "info"}, BelowSeverity},
		{"db wrong workspace", "db", Attrs{Type: "drift.detected", Workspace: "w", Class: "changed", Risk: "high"}, None},
		{"db low risk", "db", Attrs{Type: "drift.detected", Workspace: "payments", Class: "changed", Risk: "low"}, None},
		{"db class not listed", "db", Attrs{Type: "drift.detected", Workspace: "payments", Class: "unimported", Risk: "high"}, None},
		{"db match", "db", Attrs{Type: "drift.detected", Workspace: "payments", Class: "deleted", Risk: "high"}, Full},
		{"db resolved not routed", "db", Attrs{Type: "drift.resolved", Workspace: "payments", Class: "deleted", Risk: "high"}, None},
		{"db health warning below", "db", Attrs{Type: "cluster.health", Severity: "warning"}, BelowSeverity},
		{"db health critical", "db", Attrs{Type: "cluster.health", Severity: "critical"}, Full},
		{"unknown sink", "nope", Attrs{Type: "drift.detected", Class: "changed", Risk: "high"}, None},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := tb.Match(c.sink, c.a); got != c.want {
				t.Errorf("Match(%s, %+v) = %d, want %d", c.sink, c.a, got, c.want)
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	tb := compile(t, routed)
	got := tb.Subjects("db")
	want := []string{"driftgate.cluster.health.>", "driftgate.drift.detected.>", "driftgate.plan.completed.>"}
	if !slices.Equal(got, want) {
		t.Errorf("db subjects %v, want %v", got, want)
	}
	if n := len(tb.Subjects("ops")); n != len(Alertable)+1 {
		t.Errorf("ops has %d subjects, want %d", n, len(Alertable)+1)
	}
}

func TestDefaultRoutes(t *testing.T) {
	tb := compile(t, `
notify:
  sinks: [{name: a, webhook: {url: "http://127.0.0.1:1/h", secret_env: S}}]
`)
	if !slices.Equal(tb.Types("a"), sortedCopy(DefaultTypes)) {
		t.Errorf("default types %v", tb.Types("a"))
	}
	if tb.Match("a", Attrs{Type: "import.started", Workspace: "w"}) != None {
		t.Error("import.started is not a default alert")
	}
}

func TestCompileRejectsNonAlertTypes(t *testing.T) {
	for _, ty := range []string{"object.changed", "alert.delivered", "plan.*"} {
		f, err := config.Parse("t.yaml", []byte(`
notify:
  sinks: [{name: a, webhook: {url: "http://127.0.0.1:1/h", secret_env: S}}]
  routes: [{match: {types: [`+ty+`]}, sinks: [a]}]
`))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(f.Notify)
		if err == nil || !strings.Contains(err.Error(), "not an alert type") {
			t.Errorf("%s: err = %v", ty, err)
		}
	}
}

func TestShortType(t *testing.T) {
	if got := ShortType("dev.driftgate.import.rolledback.v1"); got != "import.rolledback" {
		t.Error(got)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
