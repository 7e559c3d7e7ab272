package stateindex

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// A targeted plan (plan -target=ADDR) evaluates the targets and what they
// depend on, but the tool still reads, decodes and deep-copies the whole
// state, and expands every instance of a targeted resource against it: at
// 1,000 resources that is about 40% of a targeted plan's CPU. Scope cuts the
// state down to what such a plan can read:
//
//   - the targeted instances (with their deposed objects); a target without
//     an instance key keeps every instance of its resource;
//   - every instance of each resource the kept instances depend on (the
//     instances' "dependencies", which the tool records from the
//     configuration at apply time: references, depends_on, count and
//     for_each expressions, through locals, variables and module outputs),
//     transitively;
//   - every data source, and what they depend on;
//   - the state's version, lineage, serial, outputs, check results and
//     tool version as they are.
//
// "dependencies" are as of the last apply. A configuration that references
// more since then would make the scoped plan create what the state holds;
// Scoped.Check finds that in the plan, and the caller plans on the whole
// state instead.

// Scoped is a state cut down to some targets (see Scope).
type Scoped struct {
	// State is the cut-down state, format version 4.
	State []byte
	// Kept and Total count resource instances (deposed objects included)
	// in State and in the whole state.
	Kept, Total int
	// left are the managed instance addresses the whole state holds and
	// State does not.
	left map[string]bool
}

// UnscopableError says why a state was not scoped: the caller plans on the
// whole state.
type UnscopableError struct{ Reason string }

func (e *UnscopableError) Error() string { return "state not scoped: " + e.Reason }

func unscopable(format string, args ...any) error {
	return &UnscopableError{Reason: fmt.Sprintf(format, args...)}
}

type scopeResource struct {
	Module string `json:"module"`
	Mode   string `json:"mode"`
	Type   string `json:"type"`
	Name   string `json:"name"`
}

type scopeInstance struct {
	IndexKey     any      `json:"index_key"`
	Deposed      string   `json:"deposed"`
	Dependencies []string `json:"dependencies"`
}

type resourceOf struct {
	fields    map[string]json.RawMessage
	head      scopeResource
	instances []json.RawMessage
	parsed    []scopeInstance
	keep      []bool
	whole     bool   // every instance kept
	config    string // the configuration address: no instance keys
}

// Scope cuts state (raw, format version 4) down to targets, resource
// instance addresses as Address renders them. It returns an
// *UnscopableError when the cut is not known to be safe: no targets, a
// target the state does not hold, another format, a terraform_remote_state
// data source, a dependency it cannot read.
func Scope(state []byte, targets []string) (*Scoped, error) {
	if len(targets) == 0 {
		return nil, unscopable("no targets")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(state, &top); err != nil {
		return nil, unscopable("state does not parse: %v", err)
	}
	var version int
	if err := json.Unmarshal(top["version"], &version); err != nil || version != 4 {
		return nil, unscopable("state format version is not 4")
	}
	var raws []json.RawMessage
	if b, ok := top["resources"]; ok {
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, unscopable("resources do not parse: %v", err)
		}
	}
	res := make([]*resourceOf, 0, len(raws))
	byConfig := map[string][]*resourceOf{}
	byInstance := map[string][2]int{} // instance address -> resource, instance
	byResource := map[string]int{}    // resource address (module instance path) -> resource
	total := 0
	for i, raw := range raws {
		r := &resourceOf{}
		if err := json.Unmarshal(raw, &r.fields); err != nil {
			return nil, unscopable("resource %d does not parse: %v", i, err)
		}
		if err := json.Unmarshal(raw, &r.head); err != nil {
			return nil, unscopable("resource %d does not parse: %v", i, err)
		}
		if r.head.Mode == "data" && r.head.Type == "terraform_remote_state" {
			return nil, unscopable("a terraform_remote_state data source (%s)", r.head.Name)
		}
		if r.head.Mode != "managed" && r.head.Mode != "data" {
			return nil, unscopable("resource %s.%s has mode %q", r.head.Type, r.head.Name, r.head.Mode)
		}
		if b, ok := r.fields["instances"]; ok {
			if err := json.Unmarshal(b, &r.instances); err != nil {
				return nil, unscopable("instances of %s.%s do not parse: %v", r.head.Type, r.head.Name, err)
			}
		}
		r.parsed = make([]scopeInstance, len(r.instances))
		r.keep = make([]bool, len(r.instances))
		for j, in := range r.instances {
			if err := json.Unmarshal(in, &r.parsed[j]); err != nil {
				return nil, unscopable("an instance of %s.%s does not parse: %v", r.head.Type, r.head.Name, err)
			}
			if r.head.Mode == "managed" {
				byInstance[Address(r.head.Module, r.head.Type, r.head.Name, r.parsed[j].IndexKey)] = [2]int{i, j}
			}
		}
		total += len(r.instances)
		mod, err := configModule(r.head.Module)
		if err != nil {
			return nil, unscopable("module %q: %v", r.head.Module, err)
		}
		r.config = resourceConfigAddr(mod, r.head.Mode, r.head.Type, r.head.Name)
		res = append(res, r)
		byConfig[r.config] = append(byConfig[r.config], r)
		if r.head.Mode == "managed" {
			byResource[Address(r.head.Module, r.head.Type, r.head.Name, nil)] = i
		}
	}

	var queue []*resourceOf // resources kept whole, whose dependencies are still to follow
	var follow [][2]int     // targeted instances (resource, instance), whose dependencies are to follow
	keepAll := func(r *resourceOf) {
		if r.whole {
			return
		}
		r.whole = true
		for j := range r.keep {
			r.keep[j] = true
		}
		queue = append(queue, r)
	}
	for _, t := range targets {
		if at, ok := byInstance[t]; ok {
			r := res[at[0]]
			key := r.parsed[at[1]].IndexKey
			for j := range r.instances {
				// The instance and its deposed objects share the key.
				if !r.keep[j] && sameKey(r.parsed[j].IndexKey, key) {
					r.keep[j] = true
					follow = append(follow, [2]int{at[0], j})
				}
			}
			continue
		}
		if i, ok := byResource[t]; ok {
			keepAll(res[i])
			continue
		}
		return nil, unscopable("target %s is not in the state", t)
	}
	for _, r := range res {
		if r.head.Mode == "data" {
			keepAll(r)
		}
	}
	deps := func(in scopeInstance) error {
		for _, d := range in.Dependencies {
			if strings.ContainsAny(d, "[]\"") {
				return unscopable("dependency %q is not a configuration address", d)
			}
			for _, r := range byConfig[d] {
				keepAll(r)
			}
		}
		return nil
	}
	for _, f := range follow {
		if err := deps(res[f[0]].parsed[f[1]]); err != nil {
			return nil, err
		}
	}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		for _, in := range r.parsed {
			if err := deps(in); err != nil {
				return nil, err
			}
		}
	}

	out := &Scoped{Total: total, left: map[string]bool{}}
	kept := make([]json.RawMessage, 0, len(res))
	for _, r := range res {
		var ins []json.RawMessage
		for j, in := range r.instances {
			if r.keep[j] {
				ins = append(ins, in)
				continue
			}
			if r.head.Mode == "managed" {
				out.left[Address(r.head.Module, r.head.Type, r.head.Name, r.parsed[j].IndexKey)] = true
			}
		}
		if len(ins) == 0 && len(r.instances) > 0 {
			continue
		}
		if len(r.instances) > 0 && len(ins) < len(r.instances) {
			b, err := json.Marshal(ins)
			if err != nil {
				return nil, unscopable("instances: %v", err)
			}
			r.fields["instances"] = b
		}
		b, err := json.Marshal(r.fields)
		if err != nil {
			return nil, unscopable("resource: %v", err)
		}
		kept = append(kept, b)
		out.Kept += len(ins)
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, unscopable("resources: %v", err)
	}
	top["resources"] = b
	if out.State, err = json.Marshal(top); err != nil {
		return nil, unscopable("state: %v", err)
	}
	return out, nil
}

// Scope cuts the state this index was read from down to targets (see
// Scope); an index not read by a Source holds no state to cut.
func (ix *Index) Scope(targets []string) (*Scoped, error) {
	if ix.raw == nil {
		return nil, unscopable("the index holds no state object")
	}
	return Scope(ix.raw, targets)
}

// Check reports whether a plan made on s.State shows what the same plan on
// the whole state would: it must plan no resource instance the whole state
// holds and the scope left out (a dependency the state's "dependencies" did
// not name — a reference added to the configuration since the last apply —
// would be planned as a create). A nil plan (no changes) passes.
func (s *Scoped) Check(p *tfjson.Plan) error {
	if p == nil {
		return nil
	}
	var missed []string
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Mode == tfjson.DataResourceMode {
			continue
		}
		if s.left[rc.Address] {
			missed = append(missed, rc.Address)
		}
	}
	if len(missed) == 0 {
		return nil
	}
	sort.Strings(missed)
	if len(missed) > 5 {
		missed = append(missed[:5], "…")
	}
	return unscopable("the plan on the scoped state planned %s, which the state holds and the scope left out", strings.Join(missed, ", "))
}

// sameKey compares two index keys as JSON decodes them (nil, float64,
// string).
func sameKey(a, b any) bool { return a == b }

// configModule strips the instance keys from a module instance path:
// module.a["x"].module.b[0] is module.a.module.b.
func configModule(path string) (string, error) {
	if !strings.Contains(path, "[") {
		return path, nil
	}
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] != '[' {
			b.WriteByte(path[i])
			continue
		}
		end := keyEnd(path, i+1)
		if end < 0 {
			return "", fmt.Errorf("unterminated instance key")
		}
		i = end
	}
	return b.String(), nil
}

// keyEnd is the index of the ']' closing the instance key that starts at
// from (a number or a quoted string with escapes), or -1.
func keyEnd(s string, from int) int {
	inString := false
	for i := from; i < len(s); i++ {
		switch {
		case inString && s[i] == '\\':
			i++
		case s[i] == '"':
			inString = !inString
		case !inString && s[i] == ']':
			return i
		}
	}
	return -1
}

// resourceConfigAddr is a resource's configuration address, as the state's
// "dependencies" name it: module.a.kubernetes_namespace.ns,
// data.kubernetes_namespace.ns.
func resourceConfigAddr(module, mode, typ, name string) string {
	a := typ + "." + name
	if mode == "data" {
		a = "data." + a
	}
	if module != "" {
		a = module + "." + a
	}
	return a
}
