package verify

import (
	"fmt"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/verify/manifest"
)

// ManifestDiff compares the fields a kubectl_manifest's YAML sets with the
// live object liveObj (nil: it does not exist), whose field managers are
// owners: differences in fields an ignore rule covers are ignored, the
// others block — the YAML sets every one of them, so a controller owning
// one does not make it ignorable (tfkube.IgnoreReason) (one line each,
// Secret values and sensitive_fields redacted).
func ManifestDiff(address string, obj tfkube.Object, m *Manifest, liveObj map[string]any, owners map[string]events.Attribution,
	rules []config.IgnoreRule) (blocking, ignored []string, err error) {
	if liveObj == nil {
		return []string{address + ": the object no longer exists"}, nil, nil
	}
	mm, err := manifest.Compare(m.Body, liveObj, m.IgnoreFields)
	if err != nil {
		return nil, nil, err
	}
	vr := RulesFor(obj, rules, owners, liveObj)
	for _, x := range mm {
		field := x.Field()
		if vr.Ignored(field, true) {
			ignored = append(ignored, field)
			continue
		}
		cfg, lv := x.Config, x.Live
		if vr.Secret || manifest.Covered(x.Key, m.SensitiveFields) {
			cfg, lv = tfkube.Redacted, tfkube.Redacted
		}
		if x.Missing {
			lv = "absent"
		}
		blocking = append(blocking, fmt.Sprintf("%s: %s: %s -> %s", address, x.Key, lv, cfg))
	}
	return blocking, ignored, nil
}

// Import judges what a plan does at address when it imports the live object
// liveObj there (an import block, or the targeted plan after an import):
// Check with the workspace's rules, and for a kubectl_manifest the YAML's
// fields compared with the live object. Only the address counts (a plan of
// the whole workspace may create other resources).
func Import(p *tfjson.Plan, address string, obj tfkube.Object, ignore []config.IgnoreRule, owners map[string]events.Attribution,
	liveObj map[string]any) (Result, error) {
	r := Check(OnlyAddress(p, address), address, RulesFor(obj, ignore, owners, liveObj))
	if r.Manifest != nil {
		blocking, ignored, err := ManifestDiff(address, obj, r.Manifest, liveObj, owners, ignore)
		if err != nil {
			return r, err
		}
		r.Blocking = append(r.Blocking, blocking...)
		r.Ignored = append(r.Ignored, ignored...)
		for k, v := range r.Manifest.Settle {
			r.Settle[k] = v
		}
	}
	return r, nil
}

// OnlyAddress keeps the plan's change of address (a plan of the workspace
// also creates the objects that are not imported yet; those are not this
// import's doing).
func OnlyAddress(p *tfjson.Plan, address string) *tfjson.Plan {
	q := *p
	q.ResourceChanges = nil
	for _, rc := range p.ResourceChanges {
		if rc != nil && rc.Address == address {
			q.ResourceChanges = append(q.ResourceChanges, rc)
		}
	}
	return &q
}
