package main

import (
	"io"

	"github.com/driftgate/driftgate/pkg/service"
)

// services are what `driftgate run` starts, in this order, each in its own
// goroutine under one errgroup; each is also a subcommand of its own.
var services = []service.Registration{}

func init() {
	for _, r := range services {
		r := r
		register(r.Name, "run only the "+r.Name+" service against --nats-url", func(args []string, _, stderr io.Writer) int {
			return service.Main(r.Name, r.Factory, args, stderr)
		})
	}
}
