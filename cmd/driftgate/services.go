package main

import (
	"io"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/console"
	"github.com/driftgate/driftgate/services/importer"
	"github.com/driftgate/driftgate/services/notifier"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/services/watcher"
)

// services are what `driftgate run` starts, each in its own goroutine under
// one errgroup; each is also a subcommand of its own. A service the config
// gives nothing to do (no clusters, no workspaces, no sinks, no console.listen)
// is not started.
var services = []service.Registration{
	{Name: "watcher", Factory: service.FactoryOf(watcher.New)},
	{Name: "planner", Factory: service.FactoryOf(planner.New)},
	{Name: "importer", Factory: service.FactoryOf(importer.New)},
	{Name: "notifier", Factory: service.FactoryOf(notifier.New)},
	{Name: "console", Factory: service.FactoryOf(console.New)},
}

func init() {
	for _, r := range services {
		register(r.Name, "run only the "+r.Name+" service against --nats-url", func(args []string, _, stderr io.Writer) int {
			return service.Main(r.Name, r.Factory, args, stderr)
		})
	}
}
