// Command driftgate-planner runs the planner service on its own.
package main

import (
	"os"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/planner"
)

func main() {
	os.Exit(service.Main("planner", service.FactoryOf(planner.New), os.Args[1:], os.Stderr))
}
