// Command driftgate-notifier runs the notifier service on its own:
// driftgate-notifier --config FILE --nats-url URL.
package main

import (
	"os"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/notifier"
)

func main() {
	os.Exit(service.Main("notifier", service.FactoryOf(notifier.New), os.Args[1:], os.Stderr))
}
