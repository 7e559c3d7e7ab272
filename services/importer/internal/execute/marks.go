package execute

import (
	"reflect"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/services/importer/internal/statefile"
)

// minSecretLen is the shortest sensitive string value looked for inside
// other strings (shorter ones would match by chance).
const minSecretLen = 6

// configMarks returns the paths of the address's planned value that the
// configuration marks sensitive (values from sensitive variables), as an
// apply would record them in the instance's sensitive_attributes. Import
// cannot know them; Terraform 1.5 plans an update when the state's marks
// differ from the configuration's, so settling writes them. The JSON plan
// hides these marks under schema-sensitive attributes, so they are found by
// value: a planned value equal to a sensitive variable's value, or a string
// containing it. A wrong guess shows in the plan after settling, which then
// fails and rolls back.
func configMarks(p *tfjson.Plan, address string) [][]statefile.Step {
	var secrets []any
	if p.Config != nil && p.Config.RootModule != nil {
		for name, v := range p.Config.RootModule.Variables {
			if v == nil || !v.Sensitive {
				continue
			}
			if pv := p.Variables[name]; pv != nil && pv.Value != nil {
				secrets = append(secrets, pv.Value)
			}
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	var after map[string]any
	for _, rc := range p.ResourceChanges {
		if rc != nil && rc.Address == address && rc.Change != nil {
			after, _ = rc.Change.After.(map[string]any)
		}
	}
	var out [][]statefile.Step
	var walk func(v any, path []statefile.Step, object bool)
	walk = func(v any, path []statefile.Step, object bool) {
		if len(path) > 0 && matchesSecret(v, secrets) {
			out = append(out, append([]statefile.Step(nil), path...))
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				step := statefile.Key(k)
				if object {
					step = statefile.Attr(k)
				}
				// Below a map attribute everything is map; below a list
				// element (a block) the keys are attributes again.
				walk(x[k], append(path[:len(path):len(path)], step), false)
			}
		case []any:
			for i, e := range x {
				walk(e, append(path[:len(path):len(path)], statefile.Index(i)), true)
			}
		}
	}
	walk(after, nil, true)
	// A top-level attribute computed from a sensitive variable (through
	// functions: yamlencode, base64encode) is marked as a whole; its value
	// no longer contains the variable's.
	marked := map[string]bool{}
	for _, m := range out {
		if name, ok := m[0].Value.(string); ok {
			marked[name] = true
		}
	}
	for _, attr := range sensitiveReferences(p, address) {
		if !marked[attr] {
			if _, ok := after[attr]; ok {
				out = append(out, []statefile.Step{statefile.Attr(attr)})
			}
		}
	}
	return out
}

// sensitiveReferences returns the top-level attributes of a root-module
// resource whose configuration expression refers to a sensitive variable.
func sensitiveReferences(p *tfjson.Plan, address string) []string {
	if p.Config == nil || p.Config.RootModule == nil {
		return nil
	}
	sensitive := map[string]bool{}
	for name, v := range p.Config.RootModule.Variables {
		if v != nil && v.Sensitive {
			sensitive["var."+name] = true
		}
	}
	base := address
	if i := strings.IndexByte(base, '['); i >= 0 {
		base = base[:i]
	}
	var out []string
	for _, r := range p.Config.RootModule.Resources {
		if r == nil || r.Address != base {
			continue
		}
		names := make([]string, 0, len(r.Expressions))
		for name := range r.Expressions {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			e := r.Expressions[name]
			if e == nil {
				continue
			}
			for _, ref := range e.References {
				if sensitive[ref] {
					out = append(out, name)
					break
				}
			}
		}
	}
	return out
}

func matchesSecret(v any, secrets []any) bool {
	if v == nil {
		return false
	}
	for _, s := range secrets {
		if reflect.DeepEqual(v, s) {
			return true
		}
		if vs, ok := v.(string); ok {
			if ss, ok := s.(string); ok && len(ss) >= minSecretLen && strings.Contains(vs, ss) {
				return true
			}
		}
	}
	return false
}
