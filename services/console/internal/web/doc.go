// Package web is the console's HTTP side: login (token, OIDC), signed
// sessions and CSRF, the server-rendered pages (html/template, assets
// embedded), server-sent events fed by the stream, decisions through the
// importer's signed decide RPC, and Slack's interactivity endpoint.
package web
