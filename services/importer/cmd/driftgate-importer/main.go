// Command driftgate-importer runs the importer service on its own.
package main

import (
	"os"

	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/services/importer"
)

func main() {
	os.Exit(service.Main("importer", service.FactoryOf(importer.New), os.Args[1:], os.Stderr))
}
