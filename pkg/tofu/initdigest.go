package tofu

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// initInput is the part of a module file init depends on: the terraform
// blocks (required_version, required_providers, backend), the source
// and version of module calls and the providers resources use (an implicit
// requirement); the lock file whole. A resource, variable
// or output edit leaves it alone, so a new configuration revision re-runs
// init only when init would do something different. A file that does not
// parse counts whole (init then reports the error).
func initInput(rel string, b []byte) []byte {
	switch {
	case strings.HasSuffix(rel, ".tf.json") || strings.HasSuffix(rel, ".tofu.json"):
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			return b
		}
		var out []byte
		for _, k := range []string{"terraform", "module"} {
			if v, ok := top[k]; ok {
				out = append(append(append(out, k...), '='), v...)
				out = append(out, '\n')
			}
		}
		return out
	case strings.HasSuffix(rel, ".tf") || strings.HasSuffix(rel, ".tofu"):
		f, diags := hclsyntax.ParseConfig(b, rel, hcl.InitialPos)
		if diags.HasErrors() {
			return b
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			return b
		}
		var out []byte
		uses := map[string]bool{}
		src := func(r hcl.Range) []byte { return b[r.Start.Byte:r.End.Byte] }
		for _, blk := range body.Blocks {
			switch blk.Type {
			case "terraform":
				out = append(append(out, src(blk.Range())...), '\n')
			case "module":
				out = append(out, "module "+strings.Join(blk.Labels, ".")+"\n"...)
				for _, name := range []string{"source", "version"} {
					if a, ok := blk.Body.Attributes[name]; ok {
						out = append(append(out, src(a.Range())...), '\n')
					}
				}
			case "resource", "data", "ephemeral":
				// An implicit provider requirement: the type's prefix.
				if len(blk.Labels) > 0 {
					p, _, _ := strings.Cut(blk.Labels[0], "_")
					uses[p] = true
				}
				if a, ok := blk.Body.Attributes["provider"]; ok {
					uses[string(src(a.Expr.Range()))] = true
				}
			}
		}
		names := make([]string, 0, len(uses))
		for p := range uses {
			names = append(names, p)
		}
		sort.Strings(names)
		for _, p := range names {
			out = append(out, "uses "+p+"\n"...)
		}
		return out
	}
	return b
}
