// Package statefile edits a Terraform/OpenTofu state file (format version 4)
// in the one way the importer needs: set attributes of one resource instance
// that only Terraform reads (waits, timeouts), which import cannot fill, so
// that the next plan is clean without an apply that would reach the API.
package statefile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Address is a parsed resource instance address.
type Address struct {
	Module string // "" for the root module, else module.a or module.a["x"].module.b
	Type   string
	Name   string
	// Key is the instance key: nil, a string, or an int.
	Key any
}

// ParseAddress parses [module.M[KEY].]...TYPE.NAME[KEY] for managed resources.
func ParseAddress(a string) (Address, error) {
	parts := splitTop(a)
	var mod []string
	i := 0
	for i+1 < len(parts) && strings.HasPrefix(parts[i], "module") && parts[i] == "module" {
		mod = append(mod, "module."+parts[i+1])
		i += 2
	}
	if len(parts)-i != 2 {
		return Address{}, fmt.Errorf("address %q is not a managed resource instance", a)
	}
	if parts[i] == "data" {
		return Address{}, fmt.Errorf("address %q is a data source", a)
	}
	ad := Address{Module: strings.Join(mod, "."), Type: parts[i]}
	name := parts[i+1]
	if j := strings.IndexByte(name, '['); j >= 0 {
		if !strings.HasSuffix(name, "]") {
			return Address{}, fmt.Errorf("address %q: bad instance key", a)
		}
		k := name[j+1 : len(name)-1]
		name = name[:j]
		if s, err := strconv.Unquote(k); err == nil {
			ad.Key = s
		} else if n, err := strconv.Atoi(k); err == nil {
			ad.Key = n
		} else {
			return Address{}, fmt.Errorf("address %q: bad instance key %s", a, k)
		}
	}
	ad.Name = name
	return ad, nil
}

// splitTop splits on dots outside brackets and quotes: module.a["x.y"].t.n.
func splitTop(a string) []string {
	var parts []string
	depth, inQuote, start := 0, false, 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c == '"' && (i == 0 || a[i-1] != '\\'):
			inQuote = !inQuote
		case inQuote:
		case c == '[':
			depth++
		case c == ']':
			depth--
		case c == '.' && depth == 0:
			parts = append(parts, a[start:i])
			start = i + 1
		}
	}
	return append(parts, a[start:])
}

// Has reports whether the state holds the resource instance.
func Has(body []byte, address string) (bool, error) {
	st, err := decode(body)
	if err != nil {
		return false, err
	}
	ad, err := ParseAddress(address)
	if err != nil {
		return false, err
	}
	_, err = instance(st, ad)
	return err == nil, nil
}

// Attributes returns the attributes of the resource instance.
func Attributes(body []byte, address string) (map[string]any, error) {
	st, err := decode(body)
	if err != nil {
		return nil, err
	}
	ad, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	inst, err := instance(st, ad)
	if err != nil {
		return nil, err
	}
	attrs, _ := inst["attributes"].(map[string]any)
	return attrs, nil
}

// Step is one step of a path in an instance's sensitive_attributes:
// {"type": "get_attr", "value": "data"} or {"type": "index", "value":
// {"value": "KEY", "type": "string"}}.
type Step struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Attr is a get_attr step.
func Attr(name string) Step { return Step{Type: "get_attr", Value: name} }

// Key is an index step into a map.
func Key(k string) Step {
	return Step{Type: "index", Value: map[string]any{"value": k, "type": "string"}}
}

// Index is an index step into a list.
func Index(i int) Step {
	return Step{Type: "index", Value: map[string]any{"value": i, "type": "number"}}
}

// SetAttributes returns the state with the instance's attributes set to
// values and the serial incremented by one.
func SetAttributes(body []byte, address string, values map[string]any) ([]byte, error) {
	return SetInstance(body, address, values, nil)
}

// SetInstance is SetAttributes that also sets the instance's
// sensitive_attributes when sensitive is not nil.
func SetInstance(body []byte, address string, values map[string]any, sensitive [][]Step) ([]byte, error) {
	st, err := decode(body)
	if err != nil {
		return nil, err
	}
	ad, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	inst, err := instance(st, ad)
	if err != nil {
		return nil, err
	}
	attrs, ok := inst["attributes"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("state: %s has no attributes object", address)
	}
	for k, v := range values {
		attrs[k] = v
	}
	if sensitive != nil {
		paths := make([]any, len(sensitive))
		for i, p := range sensitive {
			paths[i] = p
		}
		inst["sensitive_attributes"] = paths
	}
	serial, err := st["serial"].(json.Number).Int64()
	if err != nil {
		return nil, fmt.Errorf("state: serial: %w", err)
	}
	st["serial"] = serial + 1
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(st); err != nil {
		return nil, fmt.Errorf("state: encode: %w", err)
	}
	return buf.Bytes(), nil
}

func decode(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var st map[string]any
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	if v, _ := st["version"].(json.Number); v.String() != "4" {
		return nil, fmt.Errorf("state: format version %v, want 4", st["version"])
	}
	if _, ok := st["serial"].(json.Number); !ok {
		return nil, fmt.Errorf("state: no serial")
	}
	return st, nil
}

func instance(st map[string]any, ad Address) (map[string]any, error) {
	rs, _ := st["resources"].([]any)
	for _, r := range rs {
		rm, _ := r.(map[string]any)
		mod, _ := rm["module"].(string)
		mode, _ := rm["mode"].(string)
		if mode != "managed" || mod != ad.Module || rm["type"] != ad.Type || rm["name"] != ad.Name {
			continue
		}
		insts, _ := rm["instances"].([]any)
		for _, in := range insts {
			im, _ := in.(map[string]any)
			if keyEqual(im["index_key"], ad.Key) {
				return im, nil
			}
		}
	}
	return nil, fmt.Errorf("state: no instance %s", format(ad))
}

func keyEqual(stateKey, want any) bool {
	switch w := want.(type) {
	case nil:
		return stateKey == nil
	case string:
		s, ok := stateKey.(string)
		return ok && s == w
	case int:
		n, ok := stateKey.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && int(i) == w
	}
	return false
}

func format(ad Address) string {
	s := ad.Type + "." + ad.Name
	if ad.Module != "" {
		s = ad.Module + "." + s
	}
	switch k := ad.Key.(type) {
	case string:
		s += "[" + strconv.Quote(k) + "]"
	case int:
		s += "[" + strconv.Itoa(k) + "]"
	}
	return s
}
