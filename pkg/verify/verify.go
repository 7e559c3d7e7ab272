// Package verify judges the targeted plan that follows an import: the
// imported address must plan no change, or change only attributes that
// never reach the API (Terraform-only: waits, timeouts,
// wait_for_service_account_token), kubernetes_manifest's manifest filled
// with a configuration the object already matches (import leaves it null),
// or fields that the workspace ignores (not set by the configuration and
// owned by a controller, or covered by an ignore rule — the planner's
// "ignored" class); nothing anywhere may be replaced or destroyed.
//
// The attributes that differ, their Kubernetes fields and whether a field
// is ignored come from pkg/tfkube (AttrChanges, IgnoreReason, OwnerOf), as
// the planner's classifier reads them, so the importer and the planner
// agree on what "ignored" means.
package verify

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Rules say which field differences are harmless.
type Rules struct {
	// Ignored reports whether a difference at the Kubernetes field path
	// (spec.replicas, spec.template.spec.containers[0].image) is ignored;
	// set says the configuration sets the field (a field the configuration
	// sets is ignored only by an ignore rule, never because a controller
	// owns it: tfkube.IgnoreReason).
	Ignored func(field string, set bool) bool
	// Secret redacts every value of the address (Secrets, sensitive kinds).
	Secret bool
	// Live is the live object, when known. A label or annotation the plan
	// would add although the live object already has it with that value is
	// a difference of the state only (provider 1.13 drops labels and
	// annotations under kubernetes.io/ from what it imports): it is settled
	// in the state, not applied.
	Live map[string]any
}

// Result is the verdict on one address.
type Result struct {
	// Found is false when the plan does not mention the address at all.
	Found bool
	// Actions the plan has for the address.
	Actions []string
	// Settle holds the planned values of the Terraform-only top-level
	// attributes that differ: writing them into the state makes the next
	// plan clean without an apply.
	Settle map[string]any
	// Ignored are the Kubernetes fields that differ but are ignored.
	Ignored []string
	// Blocking are the differences that fail verification, one per line,
	// sensitive values redacted.
	Blocking []string
	// Manifest is set for a kubectl_manifest whose configuration (the YAML)
	// differs from what the import recorded (the whole live object): the
	// caller compares the YAML's fields with the live object (package
	// manifest) and, when they match, settles the state to the
	// configuration's YAML.
	Manifest *Manifest
}

// Manifest is the configuration of a kubectl_manifest as planned.
type Manifest struct {
	Body            string   // yaml_body
	IgnoreFields    []string // ignore_fields
	SensitiveFields []string // sensitive_fields
	// Settle are the configuration attributes to write into the state
	// (yaml_body, yaml_body_parsed).
	Settle map[string]any
}

// RulesFor returns the rules for obj as the planner classifies it: a field
// is ignored when tfkube.IgnoreReason gives a reason for it with its owner
// in owners (an ignore rule covers it, or a controller owns it); every
// value of a Secret is redacted; live is the live object (nil when
// unknown).
func RulesFor(obj tfkube.Object, ignore []config.IgnoreRule, owners map[string]events.Attribution, live map[string]any) Rules {
	return Rules{
		Secret: tfkube.SecretKind(obj),
		Live:   live,
		Ignored: func(field string, set bool) bool {
			return tfkube.IgnoreReason(ignore, obj, field, tfkube.OwnerOf(field, owners).Manager, set) != ""
		},
	}
}

// OK reports whether the import verified (possibly after settling).
func (r Result) OK() bool { return r.Found && len(r.Blocking) == 0 }

// NoOp reports whether the plan leaves the address alone.
func (r Result) NoOp() bool {
	return r.Found && len(r.Blocking) == 0 && len(r.Settle) == 0 && r.Manifest == nil && len(r.Actions) == 1 && r.Actions[0] == string(tfjson.ActionNoop)
}

// Check judges plan p for address.
func Check(p *tfjson.Plan, address string, rules Rules) Result {
	r := Result{Settle: map[string]any{}}
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode != tfjson.ManagedResourceMode {
			continue
		}
		acts := rc.Change.Actions
		if rc.Address != address {
			// A targeted plan includes the target's dependencies: their
			// creates and updates are not the import's doing, but nothing
			// may be destroyed or replaced.
			if acts.Delete() || acts.Replace() {
				r.Blocking = append(r.Blocking, fmt.Sprintf("%s: would be %s", rc.Address, actionWords(acts)))
			}
			continue
		}
		r.Found = true
		for _, a := range acts {
			r.Actions = append(r.Actions, string(a))
		}
		switch {
		case acts.NoOp() || acts.Read():
		case acts.Update():
			n := len(r.Blocking)
			checkUpdate(rc, rules, &r)
			if len(r.Blocking) == n && len(r.Settle) == 0 && len(r.Ignored) == 0 && r.Manifest == nil {
				// Null-versus-empty churn in a field: settling it would
				// mean writing a field the API has, so it blocks.
				r.Blocking = append(r.Blocking, fmt.Sprintf("%s: plans an in-place update the importer cannot attribute to a field%s", rc.Address, rawDifferences(rc)))
			}
		default:
			r.Blocking = append(r.Blocking, fmt.Sprintf("%s: would be %s", rc.Address, actionWords(acts)))
		}
	}
	if !r.Found {
		r.Blocking = append(r.Blocking, address+": not in the plan")
	}
	sort.Strings(r.Ignored)
	return r
}

func actionWords(a tfjson.Actions) string {
	switch {
	case a.Replace():
		return "replaced"
	case a.Delete():
		return "destroyed"
	case a.Create():
		return "created"
	case a.Update():
		return "updated in place"
	}
	return fmt.Sprint(a)
}

func checkUpdate(rc *tfjson.ResourceChange, rules Rules, r *Result) {
	before, after := rc.Change.Before, rc.Change.After
	// Terraform-only attributes are compared as Terraform does (null is
	// not false): any difference is an update the next plan would show.
	bm, _ := before.(map[string]any)
	am, _ := after.(map[string]any)
	um, _ := rc.Change.AfterUnknown.(map[string]any)
	for _, top := range topKeys(bm, am) {
		if tfkube.ClassifyAttr(rc.Type, tfkube.Path{top}).Kind != tfkube.AttrTerraform {
			continue
		}
		if u, ok := um[top]; ok && u != false {
			r.Blocking = append(r.Blocking, fmt.Sprintf("%s: %s: known only after apply", rc.Address, top))
			continue
		}
		if !reflect.DeepEqual(bm[top], am[top]) {
			r.Settle[top] = am[top]
		}
	}
	// Differences only of the state's representation, by top-level
	// attribute: settled when every difference under it is one.
	stateOnly := map[string]bool{}
	blocked := map[string]bool{}
	defer func() {
		for top := range stateOnly {
			if !blocked[top] {
				r.Settle[top] = am[top]
			}
		}
	}()
	for _, ch := range tfkube.AttrChanges(rc.Type, before, after, rc.Change.AfterUnknown) {
		p, a, unknown := ch.Path, ch.Attr, ch.Unknown
		switch a.Kind {
		case tfkube.AttrField:
			want, _ := tfkube.ValueAt(after, p)
			if a.Field != "" && rules.Ignored != nil && rules.Ignored(a.Field, unknown || !tfkube.Equal(want, nil)) {
				r.Ignored = append(r.Ignored, a.Field)
				continue
			}
			if !unknown && alreadyLive(rules.Live, after, p) {
				top, _ := p[0].(string)
				stateOnly[top] = true
				continue
			}
		case tfkube.AttrConfig, tfkube.AttrLive:
			if rc.Type == tfkube.TypeKubernetesManifest && !unknown && manifestMatchesObject(after, p) {
				// import leaves manifest null; the plan fills it with the
				// configuration, which the object (live) already holds:
				// bookkeeping of the state, settled without an apply.
				stateOnly["manifest"] = true
				continue
			}
			if rc.Type == tfkube.TypeKubectlManifest && (!unknown || a.Kind == tfkube.AttrLive) {
				if r.Manifest == nil {
					r.Manifest = manifestOf(am)
				}
				continue
			}
		}
		if top, ok := p[0].(string); ok {
			blocked[top] = true
		}
		what := a.Field
		if what == "" {
			what = p.String()
		}
		if unknown {
			r.Blocking = append(r.Blocking, fmt.Sprintf("%s: %s: %s -> (known after apply)", rc.Address, what, show(rc, before, p, rules.Secret)))
			continue
		}
		r.Blocking = append(r.Blocking, fmt.Sprintf("%s: %s: %s -> %s", rc.Address, what,
			show(rc, before, p, rules.Secret), show(rc, after, p, rules.Secret)))
	}
}

// rawDifferences names the top-level attributes whose values or
// sensitivity differ as Terraform compares them (null is not "").
func rawDifferences(rc *tfjson.ResourceChange) string {
	bm, _ := rc.Change.Before.(map[string]any)
	am, _ := rc.Change.After.(map[string]any)
	bs, _ := rc.Change.BeforeSensitive.(map[string]any)
	as, _ := rc.Change.AfterSensitive.(map[string]any)
	var vals, marks []string
	for _, k := range topKeys(bm, am) {
		if !reflect.DeepEqual(bm[k], am[k]) {
			vals = append(vals, k)
		}
	}
	for _, k := range topKeys(bs, as) {
		if !reflect.DeepEqual(bs[k], as[k]) {
			marks = append(marks, k)
		}
	}
	out := ""
	if len(vals) > 0 {
		out += fmt.Sprintf(" (values differ in %v)", vals)
	}
	if len(marks) > 0 {
		out += fmt.Sprintf(" (sensitivity differs in %v)", marks)
	}
	return out
}

// manifestMatchesObject reports whether the kubernetes_manifest value at p
// (under manifest) equals the planned object's value at the same field:
// the configuration asks for what the object already is.
func manifestMatchesObject(after any, p tfkube.Path) bool {
	if len(p) < 2 || p[0] != "manifest" {
		return false
	}
	want, ok := tfkube.ValueAt(after, p)
	if !ok {
		return false
	}
	obj := tfkube.Unwrap(mapOf(after)["object"])
	got, ok := tfkube.ValueAt(obj, p[1:])
	return ok && tfkube.Equal(want, got)
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// metaMaps are the string maps whose entries alreadyLive compares.
var metaMaps = map[string]bool{"labels": true, "annotations": true}

// alreadyLive reports whether p is a label or annotation (of the object or
// of a single nested block such as spec.template.metadata) that the plan
// sets to the value the live object already has.
func alreadyLive(live map[string]any, after any, p tfkube.Path) bool {
	if live == nil || len(p) < 2 {
		return false
	}
	m, _ := p[len(p)-2].(string)
	key, _ := p[len(p)-1].(string)
	if !metaMaps[m] || key == "" {
		return false
	}
	want, ok := tfkube.ValueAt(after, p)
	if !ok {
		return false
	}
	ws, ok := want.(string)
	if !ok {
		return false
	}
	// Walk the live object: attribute names in camelCase, the index 0 of
	// single blocks dropped; any other index means a list of blocks, whose
	// elements this does not match.
	var cur any = live
	for i, seg := range p[:len(p)-1] {
		if idx, isIdx := tfkube.Index(seg); isIdx {
			if idx != 0 || i == 0 {
				return false
			}
			continue
		}
		name, _ := seg.(string)
		if i < len(p)-2 {
			name = tfkube.CamelCase(name)
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		cur = obj[name]
	}
	mm, ok := cur.(map[string]any)
	if !ok {
		return false
	}
	got, ok := mm[key].(string)
	return ok && got == ws
}

func manifestOf(after map[string]any) *Manifest {
	m := &Manifest{Settle: map[string]any{}}
	m.Body, _ = after["yaml_body"].(string)
	m.IgnoreFields = stringList(after["ignore_fields"])
	m.SensitiveFields = stringList(after["sensitive_fields"])
	for _, k := range []string{"yaml_body", "yaml_body_parsed"} {
		if v, ok := after[k]; ok {
			m.Settle[k] = v
		}
	}
	return m
}

func stringList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func topKeys(a, b map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]any{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// show renders the value at p, or (sensitive) when the plan marks it so on
// either side (tfkube.SensitiveAt, as the planner's excerpts), the resource
// is a Secret, or it is a kubectl_manifest body (YAML that may hold
// anything). kubernetes_manifest values are shown: the plan marks what is
// sensitive in them.
func show(rc *tfjson.ResourceChange, v any, p tfkube.Path, secret bool) string {
	a := tfkube.ClassifyAttr(rc.Type, p)
	manifestBody := rc.Type == tfkube.TypeKubectlManifest && (a.Kind == tfkube.AttrConfig || a.Kind == tfkube.AttrLive)
	if secret || tfkube.SensitiveAt(rc.Change.BeforeSensitive, rc.Change.AfterSensitive, p) || manifestBody {
		return tfkube.Redacted
	}
	x, ok := tfkube.ValueAt(v, p)
	if !ok || x == nil {
		return "null"
	}
	b, err := json.Marshal(x)
	if err != nil {
		return "?"
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
