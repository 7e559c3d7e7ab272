// Command driftgate-console runs the web console on its own:
// driftgate-console --config FILE --nats-url URL.
package main

import (
	"os"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/console"
)

func main() {
	os.Exit(service.Main("console", service.FactoryOf(console.New), os.Args[1:], os.Stderr))
}
