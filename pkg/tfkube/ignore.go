package tfkube

// This file decides when a difference in a field is "ignored": the
// planner's classifier and the importer's verifier both ask IgnoreReason,
// so a field the planner ignores never blocks an import and a field that
// blocks an import is never ignored by the planner.

import (
	"strings"

	"github.com/driftgate/driftgate/pkg/config"
)

// Reasons IgnoreReason gives.
const (
	ReasonIgnoreRule = "matched by an ignore rule"
	reasonOwnedBy    = "owned by "
)

// IgnoreReason says why a difference at field of obj, whose field owner is
// manager ("" when unknown), is ignored: an ignore rule of the workspace
// covers it ("matched by an ignore rule"), or — for a field the
// configuration does not set (set false: defaulted by a CRD schema or the
// API server, added by an operator, HPA or Argo CD) — a controller owns it
// ("owned by <manager>"). A field the configuration sets is never ignored
// because a controller took it over: the plan sets it back, and an apply
// with server-side apply fails on the field-manager conflict. It is "" when
// the difference counts.
func IgnoreReason(rules []config.IgnoreRule, obj Object, field, manager string, set bool) string {
	switch {
	case RuleIgnores(rules, obj, field, manager):
		return ReasonIgnoreRule
	case !set && manager != "" && IsController(manager):
		return reasonOwnedBy + manager
	}
	return ""
}

// RuleIgnores reports whether one of rules covers field of obj owned by
// manager: the rule's resource (any when empty) names obj's kind, one of its
// paths (any when empty) is field or a parent of it (list selectors
// ignored), and one of its managers (any when empty) is manager (case
// ignored).
func RuleIgnores(rules []config.IgnoreRule, obj Object, field, manager string) bool {
	res := obj.Resource
	if i := strings.IndexByte(res, '.'); i > 0 {
		res = res[:i]
	}
	for _, r := range rules {
		if r.Resource != "" && !KindMatches(r.Resource, obj.Group, obj.Kind, res) {
			continue
		}
		if len(r.Paths) > 0 && !anyOf(r.Paths, func(p string) bool { return FieldUnder(field, p) }) {
			continue
		}
		if len(r.Managers) > 0 && !anyOf(r.Managers, func(m string) bool { return strings.EqualFold(m, manager) }) {
			continue
		}
		return true
	}
	return false
}

func anyOf(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}
