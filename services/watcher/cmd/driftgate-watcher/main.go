// Command driftgate-watcher runs the watcher service on its own.
package main

import (
	"os"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/watcher"
)

func main() {
	os.Exit(service.Main("watcher", service.FactoryOf(watcher.New), os.Args[1:], os.Stderr))
}
