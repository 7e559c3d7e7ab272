// Package imports is the importer's contract with the people and tools that
// decide on its work: import requests as the importer keeps them (KV bucket
// driftgate-state), signed decisions and the decide RPC that carries them
// (driftgate approve/reject, the console, Slack buttons through the console),
// and the per-resource decision table (driftgate report, the console).
//
// The importer (services/importer) owns the requests' lifecycle and verifies
// every decision again before it acts; this package holds only what a
// reader or a decider needs, so that no one imports the importer.
package imports
