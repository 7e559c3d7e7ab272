// Package console is driftgate's web console: server-rendered pages over the
// findings KV, the stream and the importer's requests (overview, findings,
// a finding with its timeline, the decision table, import requests, the
// audit timeline), live updates by server-sent events, and decisions sent
// through the importer's signed decide RPC (pkg/imports) in the name of the
// person logged in. It serves Slack's interactivity endpoint for the
// Approve/Reject buttons of import.requested messages as well.
//
// Everything but New lives in internal/.
package console
