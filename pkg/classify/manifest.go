package classify

import (
	"context"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// liveField is one drifted field of a manifest resource with its desired
// and live values.
type liveField struct {
	field   string
	desired any
	live    any
	known   bool // values are known (read from the cluster)
}

// liveDriftFields finds which fields of a kubectl_manifest drifted. Its
// state holds only a fingerprint of the live fields (gavinbunney 1.19,
// alekc 2.x), so the fields come from the cluster when the Live can read
// objects (the gate), else from the drift attribute of alekc's newer
// releases, else from the watcher's recent observations of the object
// restricted to the fields yaml_body sets.
func (c *Classifier) liveDriftFields(ctx context.Context, d *tfjson.ResourceChange, ref events.ObjectRef, observed []events.PathOwner) []liveField {
	desired, err := tfkube.ParseManifest(str(asMap(d.Change.Before)["yaml_body"]))
	if err != nil {
		desired = nil
	}
	if r, ok := c.live.(ObjectReader); ok && desired != nil {
		live, exists, err := r.Object(ctx, ref)
		if err == nil && exists {
			var out []liveField
			for _, p := range leaves(desired) {
				f := tfkube.FieldPath(p)
				if tfkube.ControlField(f) {
					continue
				}
				want, _ := tfkube.ValueAt(desired, p)
				got, _ := tfkube.ValueAt(live, p)
				if !tfkube.Equal(normalizeScalar(want), normalizeScalar(got)) {
					out = append(out, liveField{field: f, desired: want, live: got, known: true})
				}
			}
			if len(out) > 0 {
				return out
			}
		}
	}
	// alekc/kubectl's newer releases name the drifted paths themselves.
	if fs := tfkube.DriftFields(str(asMap(d.Change.After)["drift"])); len(fs) > 0 {
		var out []liveField
		for _, f := range fs {
			if !tfkube.ControlField(f) {
				out = append(out, liveField{field: f})
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	var bodyFields []string
	for _, p := range leaves(desired) {
		bodyFields = append(bodyFields, tfkube.FieldPath(p))
	}
	var out []liveField
	seen := map[string]bool{}
	for _, o := range observed {
		if seen[o.Path] {
			continue
		}
		in := desired == nil
		for _, f := range bodyFields {
			if tfkube.FieldMatches(o.Path, f) {
				in = true
				break
			}
		}
		if in {
			seen[o.Path] = true
			out = append(out, liveField{field: o.Path})
		}
	}
	if len(out) == 0 {
		// The fields are unknown: the finding still stands, without paths.
		out = append(out, liveField{})
	}
	return out
}

// normalizeScalar compares YAML scalars the way kubectl_manifest does: as
// their text.
func normalizeScalar(v any) any {
	switch x := v.(type) {
	case float64, int, int64, bool:
		return tfkube.Scalar(x)
	}
	return v
}

// leaves lists the paths of every scalar (and empty container) in v.
func leaves(v any) []tfkube.Path {
	var out []tfkube.Path
	var walk func(p tfkube.Path, v any)
	walk = func(p tfkube.Path, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 && len(p) > 0 {
				out = append(out, append(tfkube.Path(nil), p...))
			}
			for k, e := range x {
				walk(append(p[:len(p):len(p)], k), e)
			}
		case []any:
			if len(x) == 0 {
				out = append(out, append(tfkube.Path(nil), p...))
			}
			for i, e := range x {
				walk(append(p[:len(p):len(p)], i), e)
			}
		default:
			out = append(out, append(tfkube.Path(nil), p...))
		}
	}
	if v != nil {
		walk(nil, v)
	}
	return out
}

// manifestConfigFields lists the fields a manifest resource's configuration
// change touches (kubectl_manifest yaml_body_parsed before and after).
func manifestConfigFields(rc *tfjson.ResourceChange) []string {
	if rc == nil || rc.Type != tfkube.TypeKubectlManifest {
		return nil
	}
	before, err1 := tfkube.ParseManifest(str(asMap(rc.Change.Before)["yaml_body_parsed"]))
	after, err2 := tfkube.ParseManifest(str(asMap(rc.Change.After)["yaml_body_parsed"]))
	if err1 != nil || err2 != nil {
		return nil
	}
	var out []string
	for _, p := range tfkube.Diff(before, after) {
		out = append(out, tfkube.FieldPath(p))
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
