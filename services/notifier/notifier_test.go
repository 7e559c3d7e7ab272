package notifier_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier"
)

func TestNew(t *testing.T) {
	env := eventstest.Start(t)
	deps := service.Deps{Conn: env.Conn, JS: env.JS, Buckets: env.Buckets, Instance: "t",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Getenv: func(k string) string { return map[string]string{"S": "s3cret"}[k] }}
	for _, c := range []struct {
		name, yaml string
		runner     bool
	}{
		{"no sinks: nothing to run", "notify: {}\n", false},
		{"a webhook sink", "notify:\n  sinks: [{name: h, webhook: {url: \"http://127.0.0.1:1/h\", secret_env: S}}]\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Parse("t.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			r, err := service.FactoryOf(notifier.New)(cfg, deps)
			if err != nil {
				t.Fatal(err)
			}
			if (r != nil) != c.runner {
				t.Errorf("runner = %v, want runner: %v", r, c.runner)
			}
		})
	}
}
