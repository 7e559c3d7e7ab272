module github.com/driftgate/driftgate/cmd/driftgate

go 1.26.0

require (
	github.com/driftgate/driftgate/pkg v0.0.0
	github.com/driftgate/driftgate/services/importer v0.0.0
	github.com/driftgate/driftgate/services/notifier v0.0.0
	github.com/driftgate/driftgate/services/planner v0.0.0
	github.com/driftgate/driftgate/services/watcher v0.0.0
)

replace (
	github.com/driftgate/driftgate/pkg => ../../pkg
	github.com/driftgate/driftgate/services/importer => ../../services/importer
	github.com/driftgate/driftgate/services/notifier => ../../services/notifier
	github.com/driftgate/driftgate/services/planner => ../../services/planner
	github.com/driftgate/driftgate/services/watcher => ../../services/watcher
)
