package classify

import (
	"encoding/json"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// maxExcerptValue caps one excerpt value's length.
const maxExcerptValue = 256

// addExcerpt adds the before/after values of one field, redacted where the
// plan marks them sensitive or the object is a Secret.
func addExcerpt(e *events.Excerpt, field string, p tfkube.Path, ch *tfjson.Change, obj tfkube.Object) {
	if field == "" || ch == nil {
		return
	}
	secret := tfkube.SecretKind(obj) || tfkube.SensitiveAt(ch.BeforeSensitive, ch.AfterSensitive, p)
	before, _ := tfkube.ValueAt(ch.Before, p)
	after, afterKnown := tfkube.ValueAt(ch.After, p)
	if !afterKnown && tfkube.Sensitive(ch.AfterUnknown, p) {
		after = "(known after apply)"
	}
	put(e, field, before, after, secret)
}

func addLiveExcerpt(e *events.Excerpt, f liveField, obj tfkube.Object) {
	if !f.known {
		return
	}
	// yaml_body is sensitive as a whole in kubectl_manifest: only the live
	// value is shown, and nothing of a Secret.
	put(e, f.field, tfkube.Redacted, f.live, tfkube.SecretKind(obj))
}

func put(e *events.Excerpt, field string, before, after any, secret bool) {
	if e.Before == nil {
		e.Before = map[string]any{}
	}
	if e.After == nil {
		e.After = map[string]any{}
	}
	if secret {
		e.Before[field], e.After[field] = tfkube.Redacted, tfkube.Redacted
		return
	}
	e.Before[field], e.After[field] = excerptValue(before), excerptValue(after)
}

// excerptValue keeps scalars and renders containers as capped JSON text.
func excerptValue(v any) any {
	switch x := v.(type) {
	case nil, bool, float64, json.Number:
		return x
	case string:
		return capString(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "(unprintable)"
	}
	return capString(string(b))
}

func capString(s string) string {
	if len(s) <= maxExcerptValue {
		return s
	}
	return s[:maxExcerptValue] + "…"
}
