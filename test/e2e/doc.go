// Package e2e holds the tests that run several driftgate services together
// against the lab: the watcher feeding the planner, and what follows. A test
// of one service lives with that service; a service module never requires
// another service, not even for a test, so the cross-service tests are here.
package e2e
