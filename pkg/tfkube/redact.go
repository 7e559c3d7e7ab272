package tfkube

// This file keeps secret values out of events, alerts and logs.

// Redacted replaces every value that must not leave driftgate: Secret data
// and whatever the plan marks sensitive.
const Redacted = "(sensitive)"

// SecretKind reports whether obj holds secret data in its fields (a core
// Secret): every value of it is redacted, not only those the plan marks.
func SecretKind(obj Object) bool {
	return obj.Group == "" && obj.Kind == "Secret"
}

// Sensitive reports whether a plan's sensitivity mask (before_sensitive or
// after_sensitive) marks p, or any value containing it, as sensitive. A mask
// is true for a sensitive value, or mirrors the value's shape down to the
// sensitive leaves.
func Sensitive(mask any, p Path) bool {
	if b, ok := mask.(bool); ok {
		return b
	}
	for _, seg := range p {
		switch m := mask.(type) {
		case bool:
			return m
		case map[string]any:
			k, _ := seg.(string)
			mask = m[k]
		case []any:
			idx, ok := Index(seg)
			if !ok || idx < 0 || idx >= len(m) {
				return false
			}
			mask = m[idx]
		default:
			return false
		}
	}
	if b, ok := mask.(bool); ok {
		return b
	}
	// A container below p holds something sensitive: the value at p as a
	// whole is not safe to show.
	return containsTrue(mask)
}

func containsTrue(mask any) bool {
	switch m := mask.(type) {
	case bool:
		return m
	case map[string]any:
		for _, v := range m {
			if containsTrue(v) {
				return true
			}
		}
	case []any:
		for _, v := range m {
			if containsTrue(v) {
				return true
			}
		}
	}
	return false
}

// SensitiveAt reports whether the values at p of a planned change must be
// redacted: the before or the after mask marks p (a value that becomes or
// stops being sensitive is redacted on both sides).
func SensitiveAt(beforeMask, afterMask any, p Path) bool {
	return Sensitive(beforeMask, p) || Sensitive(afterMask, p)
}
