package tofu

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrPlanFileUnsupported is wrapped by every DecodePlanFile error: the plan
// file holds something the native decoder does not know (a format version,
// an action, a resource type without a schema), or could not be read. The
// caller falls back to show -json.
var ErrPlanFileUnsupported = errors.New("plan file not decodable natively")

// planFileVersion is the tfplan format version the decoder reads (both
// OpenTofu and Terraform have written 3 since 1.0).
const planFileVersion = 3

// DecodePlanFile reads a plan file's resource drift and resource changes
// without running the tool: the file is a zip whose tfplan entry is a
// protobuf message (internal/plans/planproto/planfile.proto in OpenTofu and
// Terraform), its values msgpack of the cty type the provider schema
// implies. The result is what ShowChanges returns for the same file —
// before, after, after_unknown, before_sensitive (the plan's sensitive
// paths and the schema's sensitive attributes), after_sensitive, actions,
// action_reason, replace_paths, importing — built as show -json builds it
// and decoded by DecodeChanges. formatVersion is the JSON plan format
// version show -json reports for this tool (the plan file does not carry
// it). Anything the decoder does not know is an error wrapping
// ErrPlanFileUnsupported.
func DecodePlanFile(file string, schemas *tfjson.ProviderSchemas, formatVersion string) (*tfjson.Plan, error) {
	raw, err := readTFPlan(file)
	if err != nil {
		return nil, unsupported("%v", err)
	}
	p, err := parsePlan(raw)
	if err != nil {
		return nil, err
	}
	if p.version != planFileVersion {
		return nil, unsupported("tfplan format version %d (want %d)", p.version, planFileVersion)
	}
	out := struct {
		FormatVersion    string            `json:"format_version"`
		TerraformVersion string            `json:"terraform_version"`
		ResourceDrift    []json.RawMessage `json:"resource_drift,omitempty"`
		ResourceChanges  []json.RawMessage `json:"resource_changes,omitempty"`
	}{FormatVersion: formatVersion, TerraformVersion: p.toolVersion}
	for _, l := range []struct {
		in  []rawChange
		out *[]json.RawMessage
	}{{p.drift, &out.ResourceDrift}, {p.changes, &out.ResourceChanges}} {
		sortChanges(l.in)
		for _, rc := range l.in {
			b, skip, err := marshalChange(rc, schemas)
			if err != nil {
				return nil, err
			}
			if !skip {
				*l.out = append(*l.out, b)
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, unsupported("%v", err)
	}
	return DecodeChanges(b)
}

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrPlanFileUnsupported, fmt.Sprintf(format, a...))
}

// readTFPlan is the tfplan entry of the plan file's zip.
func readTFPlan(file string) ([]byte, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != "tfplan" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	return nil, errors.New("no tfplan entry in the plan file")
}

// The parts of planfile.proto the decoder reads (field numbers).
const (
	fPlanVersion         = 1
	fPlanResourceChanges = 3
	fPlanToolVersion     = 14
	fPlanResourceDrift   = 18

	fRICAddr           = 13
	fRICPrevRunAddr    = 14
	fRICDeposedKey     = 7
	fRICProvider       = 8
	fRICChange         = 9
	fRICRequiredRepl   = 11
	fRICActionReason   = 12
	fChangeAction      = 1
	fChangeValues      = 2
	fChangeBeforeSens  = 3
	fChangeAfterSens   = 4
	fChangeImporting   = 5
	fChangeGenerated   = 6
	fDynamicMsgpack    = 1
	fPathSteps         = 1
	fStepAttributeName = 1
	fStepElementKey    = 2
	fImportingID       = 1
	fImportingUnknown  = 2
)

type rawPlan struct {
	version        uint64
	toolVersion    string
	changes, drift []rawChange
}

type rawChange struct {
	addr, prevAddr, deposed, provider string
	action, reason                    uint64
	values                            [][]byte // msgpack
	beforeSens, afterSens, replace    []cty.Path
	importing                         *tfjson.Importing
	generated                         string
	// parsed address
	module, mode, typ, name string
	key                     cty.Value // cty.NilVal: no key
}

// fields calls f for each field of a protobuf message.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return unsupported("protobuf: %v", protowire.ParseError(l))
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return unsupported("protobuf field %d: %v", num, protowire.ParseError(l))
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}

func parsePlan(b []byte) (*rawPlan, error) {
	p := &rawPlan{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == fPlanVersion && typ == protowire.VarintType:
			p.version = n
		case num == fPlanToolVersion && typ == protowire.BytesType:
			p.toolVersion = string(v)
		case (num == fPlanResourceChanges || num == fPlanResourceDrift) && typ == protowire.BytesType:
			rc, err := parseChange(v)
			if err != nil {
				return err
			}
			if num == fPlanResourceChanges {
				p.changes = append(p.changes, rc)
			} else {
				p.drift = append(p.drift, rc)
			}
		}
		return nil
	})
	return p, err
}

func parseChange(b []byte) (rawChange, error) {
	var rc rawChange
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		var err error
		switch num {
		case fRICAddr:
			rc.addr = string(v)
		case fRICPrevRunAddr:
			rc.prevAddr = string(v)
		case fRICDeposedKey:
			rc.deposed = string(v)
		case fRICProvider:
			rc.provider = string(v)
		case fRICActionReason:
			rc.reason = n
		case fRICRequiredRepl:
			var p cty.Path
			if p, err = parsePath(v); err == nil {
				rc.replace = append(rc.replace, p)
			}
		case fRICChange:
			err = fields(v, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
				var err error
				switch num {
				case fChangeAction:
					rc.action = n
				case fChangeValues:
					var mp []byte
					err = fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
						if num == fDynamicMsgpack {
							mp = v
						}
						return nil
					})
					if err == nil && mp == nil {
						err = unsupported("%s: a value that is not msgpack", rc.addr)
					}
					rc.values = append(rc.values, mp)
				case fChangeBeforeSens, fChangeAfterSens:
					var p cty.Path
					if p, err = parsePath(v); err == nil {
						if num == fChangeBeforeSens {
							rc.beforeSens = append(rc.beforeSens, p)
						} else {
							rc.afterSens = append(rc.afterSens, p)
						}
					}
				case fChangeImporting:
					rc.importing = &tfjson.Importing{}
					err = fields(v, func(num protowire.Number, _ protowire.Type, v []byte, n uint64) error {
						switch num {
						case fImportingID:
							rc.importing.ID = string(v)
						case fImportingUnknown:
							rc.importing.Unknown = n != 0
						default:
							return unsupported("importing field %d", num)
						}
						return nil
					})
				case fChangeGenerated:
					rc.generated = string(v)
				default:
					// before_identity/after_identity and what comes later: show
					// -json may render them.
					return unsupported("change field %d", num)
				}
				return err
			})
		}
		return err
	})
	if err != nil {
		return rc, err
	}
	return rc, parseAddr(&rc)
}

func parsePath(b []byte) (cty.Path, error) {
	var p cty.Path
	err := fields(b, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
		if num != fPathSteps {
			return nil
		}
		return fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
			switch num {
			case fStepAttributeName:
				p = append(p, cty.GetAttrStep{Name: string(v)})
			case fStepElementKey:
				var mp []byte
				_ = fields(v, func(num protowire.Number, _ protowire.Type, v []byte, _ uint64) error {
					if num == fDynamicMsgpack {
						mp = v
					}
					return nil
				})
				k, err := ctymsgpack.Unmarshal(mp, keyType(mp))
				if err != nil {
					return unsupported("path element key: %v", err)
				}
				p = append(p, cty.IndexStep{Key: k})
			default:
				return unsupported("path step field %d", num)
			}
			return nil
		})
	})
	return p, err
}

// keyType is the cty type a path element key is encoded with: the tools
// write a key with its own type (a string or a number), or as a dynamic
// value ([type, value]).
func keyType(mp []byte) cty.Type {
	if len(mp) == 0 {
		return cty.DynamicPseudoType
	}
	switch c := mp[0]; {
	case c >= 0xa0 && c <= 0xbf, c == 0xd9, c == 0xda, c == 0xdb:
		return cty.String
	case c >= 0x90 && c <= 0x9f, c == 0xdc, c == 0xdd:
		return cty.DynamicPseudoType
	}
	return cty.Number
}

// parseAddr splits a resource instance address — module.a["k"].module.b,
// then data. for a data source, type.name and an optional [key] — as show
// -json reports it.
func parseAddr(rc *rawChange) error {
	s := rc.addr
	var mod []string
	for strings.HasPrefix(s, "module.") {
		i := 7
		for i < len(s) && s[i] != '.' && s[i] != '[' {
			i++
		}
		j, err := skipKey(s, i)
		if err != nil || j >= len(s) || s[j] != '.' {
			return unsupported("resource address %q", rc.addr)
		}
		mod = append(mod, s[:j])
		s = s[j+1:]
	}
	rc.module = strings.Join(mod, ".")
	rc.mode = "managed"
	if rest, ok := strings.CutPrefix(s, "data."); ok {
		rc.mode, s = "data", rest
	}
	dot := strings.IndexByte(s, '.')
	if dot <= 0 {
		return unsupported("resource address %q", rc.addr)
	}
	rc.typ, s = s[:dot], s[dot+1:]
	end := strings.IndexByte(s, '[')
	if end < 0 {
		end = len(s)
	}
	rc.name = s[:end]
	rc.key = cty.NilVal
	if end == len(s) {
		return nil
	}
	k := s[end+1:]
	if !strings.HasSuffix(k, "]") {
		return unsupported("resource address %q", rc.addr)
	}
	k = k[:len(k)-1]
	if strings.HasPrefix(k, `"`) {
		u, err := strconv.Unquote(k)
		if err != nil {
			return unsupported("resource address %q", rc.addr)
		}
		rc.key = cty.StringVal(u)
		return nil
	}
	n, err := strconv.Atoi(k)
	if err != nil {
		return unsupported("resource address %q", rc.addr)
	}
	rc.key = cty.NumberIntVal(int64(n))
	return nil
}

// skipKey returns the index after an optional [key] at s[i].
func skipKey(s string, i int) (int, error) {
	if i >= len(s) || s[i] != '[' {
		return i, nil
	}
	if i+1 < len(s) && s[i+1] == '"' {
		j := i + 2
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j+1 >= len(s) || s[j+1] != ']' {
			return 0, errors.New("unterminated key")
		}
		return j + 2, nil
	}
	j := strings.IndexByte(s[i:], ']')
	if j < 0 {
		return 0, errors.New("unterminated key")
	}
	return i + j + 1, nil
}

// sortChanges orders changes as show -json does: by module, data sources
// before managed resources, type, name, instance key, then deposed key.
func sortChanges(cs []rawChange) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		switch {
		case a.module != b.module:
			return a.module < b.module
		case a.mode != b.mode:
			return a.mode == "data"
		case a.typ != b.typ:
			return a.typ < b.typ
		case a.name != b.name:
			return a.name < b.name
		case !keyEqual(a.key, b.key):
			return keyLess(a.key, b.key)
		}
		return a.deposed < b.deposed
	})
}

func keyEqual(a, b cty.Value) bool {
	if a == cty.NilVal || b == cty.NilVal {
		return a == cty.NilVal && b == cty.NilVal
	}
	return a.RawEquals(b)
}

func keyLess(a, b cty.Value) bool {
	switch {
	case a == cty.NilVal:
		return true
	case b == cty.NilVal:
		return false
	case a.Type() != b.Type():
		return a.Type() == cty.Number // int keys first
	case a.Type() == cty.Number:
		return a.LessThan(b).True()
	}
	return a.AsString() < b.AsString()
}

// Actions as planfile.proto numbers them, and as show -json names them.
var actionNames = map[uint64][]string{
	0: {"no-op"}, 1: {"create"}, 2: {"read"}, 3: {"update"}, 5: {"delete"},
	6: {"delete", "create"}, 7: {"create", "delete"},
}

// Action reasons as planfile.proto numbers them, and as show -json names
// them.
var reasonNames = map[uint64]string{
	0: "", 1: "replace_because_tainted", 2: "replace_by_request", 3: "replace_because_cannot_update",
	4: "delete_because_no_resource_config", 5: "delete_because_wrong_repetition",
	6: "delete_because_count_index", 7: "delete_because_each_key", 8: "delete_because_no_module",
	9: "replace_by_triggers", 10: "read_because_config_unknown", 11: "read_because_dependency_pending",
	12: "delete_because_no_move_target", 13: "read_because_check_nested",
}

// jsonChange is one element of show -json's resource_changes.
type jsonChange struct {
	Address         string          `json:"address"`
	PreviousAddress string          `json:"previous_address,omitempty"`
	ModuleAddress   string          `json:"module_address,omitempty"`
	Mode            string          `json:"mode"`
	Type            string          `json:"type"`
	Name            string          `json:"name"`
	Index           json.RawMessage `json:"index,omitempty"`
	ProviderName    string          `json:"provider_name"`
	Deposed         string          `json:"deposed,omitempty"`
	Change          struct {
		Actions         []string          `json:"actions"`
		Before          json.RawMessage   `json:"before"`
		After           json.RawMessage   `json:"after"`
		AfterUnknown    json.RawMessage   `json:"after_unknown"`
		BeforeSensitive json.RawMessage   `json:"before_sensitive"`
		AfterSensitive  json.RawMessage   `json:"after_sensitive"`
		ReplacePaths    []json.RawMessage `json:"replace_paths,omitempty"`
		Importing       *tfjson.Importing `json:"importing,omitempty"`
		GeneratedConfig string            `json:"generated_config,omitempty"`
	} `json:"change"`
	ActionReason string `json:"action_reason,omitempty"`
}

// marshalChange renders one resource instance change as show -json does;
// skip is true for what show -json leaves out (a data source's delete).
func marshalChange(rc rawChange, schemas *tfjson.ProviderSchemas) (b []byte, skip bool, err error) {
	actions, ok := actionNames[rc.action]
	if !ok {
		return nil, false, unsupported("%s: action %d", rc.addr, rc.action)
	}
	if rc.mode == "data" && rc.action == 5 {
		return nil, true, nil
	}
	reason, ok := reasonNames[rc.reason]
	if !ok {
		return nil, false, unsupported("%s: action reason %d", rc.addr, rc.reason)
	}
	provider, err := providerSource(rc.provider)
	if err != nil {
		return nil, false, err
	}
	block := resourceSchema(schemas, provider, rc.mode, rc.typ)
	if block == nil {
		return nil, false, unsupported("%s: no schema for %s in provider %s", rc.addr, rc.typ, provider)
	}
	ty := impliedType(block)
	before, after, err := changeValues(rc, ty)
	if err != nil {
		return nil, false, err
	}
	var jc jsonChange
	jc.Address, jc.ModuleAddress, jc.Mode, jc.Type, jc.Name = rc.addr, rc.module, rc.mode, rc.typ, rc.name
	if rc.prevAddr != "" && rc.prevAddr != rc.addr {
		jc.PreviousAddress = rc.prevAddr
	}
	jc.ProviderName, jc.Deposed, jc.ActionReason = provider, rc.deposed, reason
	if rc.key != cty.NilVal {
		if jc.Index, err = ctyjson.Marshal(rc.key, rc.key.Type()); err != nil {
			return nil, false, unsupported("%s: %v", rc.addr, err)
		}
	}
	c := &jc.Change
	c.Actions, c.Importing, c.GeneratedConfig = actions, rc.importing, rc.generated
	if c.Before, err = ctyjson.Marshal(before, before.Type()); err != nil {
		return nil, false, unsupported("%s: before: %v", rc.addr, err)
	}
	if c.BeforeSensitive, err = sensitiveJSON(before, rc.beforeSens, block); err != nil {
		return nil, false, unsupported("%s: before_sensitive: %v", rc.addr, err)
	}
	afterUnknown := cty.EmptyObjectVal
	if !after.IsWhollyKnown() {
		known := knownPart(after)
		c.After = json.RawMessage("null")
		if !known.IsNull() {
			if c.After, err = ctyjson.Marshal(known, known.Type()); err != nil {
				return nil, false, unsupported("%s: after: %v", rc.addr, err)
			}
		}
		afterUnknown = unknownTree(after)
	} else if c.After, err = ctyjson.Marshal(after, after.Type()); err != nil {
		return nil, false, unsupported("%s: after: %v", rc.addr, err)
	}
	if c.AfterUnknown, err = ctyjson.Marshal(afterUnknown, afterUnknown.Type()); err != nil {
		return nil, false, unsupported("%s: after_unknown: %v", rc.addr, err)
	}
	if c.AfterSensitive, err = sensitiveJSON(after, rc.afterSens, block); err != nil {
		return nil, false, unsupported("%s: after_sensitive: %v", rc.addr, err)
	}
	seen := map[string]bool{}
	for _, p := range rc.replace {
		pb, err := pathJSON(p)
		if err != nil {
			return nil, false, unsupported("%s: replace path: %v", rc.addr, err)
		}
		if !seen[string(pb)] {
			seen[string(pb)] = true
			c.ReplacePaths = append(c.ReplacePaths, pb)
		}
	}
	b, err = json.Marshal(jc)
	if err != nil {
		return nil, false, unsupported("%s: %v", rc.addr, err)
	}
	return b, false, nil
}

// changeValues decodes a change's before and after values: one value for
// create (after), delete and no-op (before; no-op's after is the same),
// two for the rest.
func changeValues(rc rawChange, ty cty.Type) (before, after cty.Value, err error) {
	dec := func(i int) (cty.Value, error) {
		if i >= len(rc.values) {
			return cty.NilVal, unsupported("%s: action %d with %d values", rc.addr, rc.action, len(rc.values))
		}
		v, err := ctymsgpack.Unmarshal(rc.values[i], ty)
		if err != nil {
			return cty.NilVal, unsupported("%s: decode value: %v", rc.addr, err)
		}
		return v, nil
	}
	null := cty.NullVal(ty)
	switch rc.action {
	case 1: // create
		after, err = dec(0)
		return null, after, err
	case 5: // delete
		before, err = dec(0)
		return before, null, err
	case 0: // no-op
		before, err = dec(0)
		return before, before, err
	}
	if before, err = dec(0); err != nil {
		return
	}
	after, err = dec(1)
	return
}

// providerSource is the provider's source address from the change's
// provider configuration address (provider["registry.opentofu.org/a/b"],
// with a module path before it or an alias after it).
func providerSource(cfg string) (string, error) {
	i := strings.Index(cfg, `provider["`)
	if i < 0 {
		return "", unsupported("provider address %q", cfg)
	}
	rest := cfg[i+len(`provider[`):]
	j := strings.Index(rest, `"]`)
	if j < 0 {
		return "", unsupported("provider address %q", cfg)
	}
	s, err := strconv.Unquote(rest[:j+1])
	if err != nil {
		return "", unsupported("provider address %q", cfg)
	}
	return s, nil
}

func resourceSchema(schemas *tfjson.ProviderSchemas, provider, mode, typ string) *tfjson.SchemaBlock {
	if schemas == nil {
		return nil
	}
	ps := schemas.Schemas[provider]
	if ps == nil {
		return nil
	}
	m := ps.ResourceSchemas
	if mode == "data" {
		m = ps.DataSourceSchemas
	}
	if s := m[typ]; s != nil {
		return s.Block
	}
	return nil
}

// impliedType is the cty type of a block's values, as the tool derives it
// from the schema.
func impliedType(b *tfjson.SchemaBlock) cty.Type {
	if b == nil {
		return cty.EmptyObject
	}
	attrs := map[string]cty.Type{}
	for name, a := range b.Attributes {
		if a.AttributeNestedType != nil {
			attrs[name] = nestedType(a.AttributeNestedType)
		} else {
			attrs[name] = a.AttributeType
		}
	}
	for name, bt := range b.NestedBlocks {
		et := impliedType(bt.Block)
		switch bt.NestingMode {
		case tfjson.SchemaNestingModeSingle, tfjson.SchemaNestingModeGroup:
			attrs[name] = et
		case tfjson.SchemaNestingModeList:
			if et.HasDynamicTypes() {
				attrs[name] = cty.DynamicPseudoType
			} else {
				attrs[name] = cty.List(et)
			}
		case tfjson.SchemaNestingModeSet:
			attrs[name] = cty.Set(et)
		case tfjson.SchemaNestingModeMap:
			if et.HasDynamicTypes() {
				attrs[name] = cty.DynamicPseudoType
			} else {
				attrs[name] = cty.Map(et)
			}
		default:
			attrs[name] = cty.DynamicPseudoType // unknown nesting: the decode fails and show runs
		}
	}
	return cty.Object(attrs)
}

func nestedType(n *tfjson.SchemaNestedAttributeType) cty.Type {
	attrs := map[string]cty.Type{}
	for name, a := range n.Attributes {
		if a.AttributeNestedType != nil {
			attrs[name] = nestedType(a.AttributeNestedType)
		} else {
			attrs[name] = a.AttributeType
		}
	}
	et := cty.Object(attrs) // no optional attributes: values carry them all
	switch n.NestingMode {
	case tfjson.SchemaNestingModeSingle, tfjson.SchemaNestingModeGroup:
		return et
	case tfjson.SchemaNestingModeList:
		if et.HasDynamicTypes() {
			return cty.DynamicPseudoType
		}
		return cty.List(et)
	case tfjson.SchemaNestingModeSet:
		return cty.Set(et)
	case tfjson.SchemaNestingModeMap:
		if et.HasDynamicTypes() {
			return cty.DynamicPseudoType
		}
		return cty.Map(et)
	}
	return cty.DynamicPseudoType
}

// sensitiveMark marks the sensitive parts of a value.
const sensitiveMark = "sensitive"

// sensitiveJSON is before_sensitive/after_sensitive: true where the value
// is sensitive — the plan's sensitive paths and the schema's sensitive
// attributes — as show -json renders it.
func sensitiveJSON(v cty.Value, paths []cty.Path, block *tfjson.SchemaBlock) (json.RawMessage, error) {
	pvm := make([]cty.PathValueMarks, 0, len(paths))
	for _, p := range paths {
		pvm = append(pvm, cty.PathValueMarks{Path: p, Marks: cty.NewValueMarks(sensitiveMark)})
	}
	pvm = append(pvm, schemaSensitive(v, nil, block)...)
	s := sensitiveTree(v.MarkWithPaths(pvm))
	return ctyjson.Marshal(s, s.Type())
}

// schemaSensitive lists the paths of v the schema declares sensitive: every
// sensitive attribute (null or not), and those in nested blocks and nested
// attribute types that hold values.
func schemaSensitive(v cty.Value, path cty.Path, b *tfjson.SchemaBlock) []cty.PathValueMarks {
	if b == nil {
		return nil
	}
	var out []cty.PathValueMarks
	mark := cty.NewValueMarks(sensitiveMark)
	for name, a := range b.Attributes {
		if a.Sensitive {
			out = append(out, cty.PathValueMarks{Path: extend(path, cty.GetAttrStep{Name: name}), Marks: mark})
		}
	}
	if v.IsNull() || !v.IsKnown() {
		return out
	}
	for name, a := range b.Attributes {
		if a.AttributeNestedType == nil || !nestedSensitive(a.AttributeNestedType) {
			continue
		}
		out = append(out, nestedMarks(v.GetAttr(name), extend(path, cty.GetAttrStep{Name: name}), a.AttributeNestedType)...)
	}
	for name, bt := range b.NestedBlocks {
		if !blockSensitive(bt.Block) {
			continue
		}
		bv := v.GetAttr(name)
		if bv.IsNull() || !bv.IsKnown() {
			continue
		}
		bp := extend(path, cty.GetAttrStep{Name: name})
		switch bt.NestingMode {
		case tfjson.SchemaNestingModeSingle, tfjson.SchemaNestingModeGroup:
			out = append(out, schemaSensitive(bv, bp, bt.Block)...)
		default:
			for it := bv.ElementIterator(); it.Next(); {
				k, ev := it.Element()
				out = append(out, schemaSensitive(ev, extend(bp, cty.IndexStep{Key: k}), bt.Block)...)
			}
		}
	}
	return out
}

func nestedMarks(v cty.Value, path cty.Path, n *tfjson.SchemaNestedAttributeType) []cty.PathValueMarks {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	obj := &tfjson.SchemaBlock{Attributes: n.Attributes}
	switch n.NestingMode {
	case tfjson.SchemaNestingModeSingle, tfjson.SchemaNestingModeGroup:
		return schemaSensitive(v, path, obj)
	}
	var out []cty.PathValueMarks
	for it := v.ElementIterator(); it.Next(); {
		k, ev := it.Element()
		out = append(out, schemaSensitive(ev, extend(path, cty.IndexStep{Key: k}), obj)...)
	}
	return out
}

func blockSensitive(b *tfjson.SchemaBlock) bool {
	if b == nil {
		return false
	}
	for _, a := range b.Attributes {
		if a.Sensitive || (a.AttributeNestedType != nil && nestedSensitive(a.AttributeNestedType)) {
			return true
		}
	}
	for _, bt := range b.NestedBlocks {
		if blockSensitive(bt.Block) {
			return true
		}
	}
	return false
}

func nestedSensitive(n *tfjson.SchemaNestedAttributeType) bool {
	for _, a := range n.Attributes {
		if a.Sensitive || (a.AttributeNestedType != nil && nestedSensitive(a.AttributeNestedType)) {
			return true
		}
	}
	return false
}

func extend(p cty.Path, s cty.PathStep) cty.Path {
	out := make(cty.Path, len(p), len(p)+1)
	copy(out, p)
	return append(out, s)
}

// sensitiveTree is true for a sensitive value, false for a null or
// primitive one, and otherwise the tree of its elements with the false
// entries of objects and maps left out (show -json's before_sensitive).
func sensitiveTree(v cty.Value) cty.Value {
	if v.HasMark(sensitiveMark) {
		return cty.True
	}
	ty := v.Type()
	switch {
	case v.IsNull(), ty.IsPrimitiveType(), ty.Equals(cty.DynamicPseudoType):
		return cty.False
	case ty.IsListType(), ty.IsTupleType(), ty.IsSetType():
		if !v.IsKnown() || v.LengthInt() == 0 {
			return cty.EmptyTupleVal
		}
		var out []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			out = append(out, sensitiveTree(ev))
		}
		return cty.TupleVal(out)
	case ty.IsMapType(), ty.IsObjectType():
		if !v.IsKnown() {
			return cty.EmptyObjectVal
		}
		out := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if s := sensitiveTree(ev); !s.RawEquals(cty.False) {
				out[k.AsString()] = s
			}
		}
		return cty.ObjectVal(out)
	}
	return cty.False
}

// knownPart is v without its unknown parts: left out of objects and maps,
// null in sequences (show -json's after).
func knownPart(v cty.Value) cty.Value {
	ty := v.Type()
	switch {
	case v.IsNull():
		return v
	case !v.IsKnown():
		return cty.NilVal
	case ty.IsPrimitiveType():
		return v
	case ty.IsListType(), ty.IsTupleType(), ty.IsSetType():
		var out []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			if k := knownPart(ev); k != cty.NilVal {
				out = append(out, k)
			} else {
				out = append(out, cty.NullVal(ev.Type()))
			}
		}
		return cty.TupleVal(out)
	case ty.IsMapType(), ty.IsObjectType():
		out := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if kp := knownPart(ev); kp != cty.NilVal {
				out[k.AsString()] = kp
			}
		}
		return cty.ObjectVal(out)
	}
	return v
}

// unknownTree is true where v is unknown, with the false entries of
// objects and maps left out (show -json's after_unknown).
func unknownTree(v cty.Value) cty.Value {
	ty := v.Type()
	switch {
	case v.IsNull():
		return cty.False
	case !v.IsKnown():
		return cty.True
	case ty.IsPrimitiveType():
		return cty.False
	case ty.IsListType(), ty.IsTupleType(), ty.IsSetType():
		if v.LengthInt() == 0 {
			return cty.EmptyTupleVal
		}
		var out []cty.Value
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			out = append(out, unknownTree(ev))
		}
		return cty.TupleVal(out)
	case ty.IsMapType(), ty.IsObjectType():
		out := map[string]cty.Value{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			if u := unknownTree(ev); !u.RawEquals(cty.False) {
				out[k.AsString()] = u
			}
		}
		return cty.ObjectVal(out)
	}
	return cty.False
}

// pathJSON renders a path as show -json's replace_paths entries: attribute
// names and index keys as JSON values.
func pathJSON(p cty.Path) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, s := range p {
		if i > 0 {
			buf.WriteByte(',')
		}
		switch s := s.(type) {
		case cty.GetAttrStep:
			b, _ := json.Marshal(s.Name)
			buf.Write(b)
		case cty.IndexStep:
			b, err := ctyjson.Marshal(s.Key, s.Key.Type())
			if err != nil {
				return nil, err
			}
			buf.Write(b)
		default:
			return nil, fmt.Errorf("path step %T", s)
		}
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// DiffChanges compares two plans' format and tool versions, resource
// drift and resource changes as classify reads them, in a canonical order
// (by address and deposed key; replace paths sorted: show -json lists them
// in no fixed order). It returns "" when they are equal, or the first
// difference, naming the address and never a value.
func DiffChanges(want, got *tfjson.Plan) string {
	if want.FormatVersion != got.FormatVersion || want.TerraformVersion != got.TerraformVersion {
		return fmt.Sprintf("versions: %s/%s, want %s/%s", got.FormatVersion, got.TerraformVersion, want.FormatVersion, want.TerraformVersion)
	}
	for _, l := range []struct {
		name      string
		want, got []*tfjson.ResourceChange
	}{{"resource_drift", want.ResourceDrift, got.ResourceDrift}, {"resource_changes", want.ResourceChanges, got.ResourceChanges}} {
		w, g := canonical(l.want), canonical(l.got)
		if len(w) != len(g) {
			return fmt.Sprintf("%s: %d entries, want %d", l.name, len(g), len(w))
		}
		for i := range w {
			if w[i].addr != g[i].addr {
				return fmt.Sprintf("%s[%d]: %s, want %s", l.name, i, g[i].addr, w[i].addr)
			}
			if !bytes.Equal(w[i].json, g[i].json) {
				return fmt.Sprintf("%s: %s differs: %s", l.name, w[i].addr, firstDiff(w[i].rc, g[i].rc))
			}
		}
	}
	return ""
}

type canonicalChange struct {
	addr string
	json []byte
	rc   *tfjson.ResourceChange
}

func canonical(rcs []*tfjson.ResourceChange) []canonicalChange {
	out := make([]canonicalChange, 0, len(rcs))
	for _, rc := range rcs {
		c := *rc
		if rc.Change != nil {
			ch := *rc.Change
			if len(ch.ReplacePaths) > 0 {
				ps := append([]interface{}(nil), ch.ReplacePaths...)
				sort.Slice(ps, func(i, j int) bool {
					a, _ := json.Marshal(ps[i])
					b, _ := json.Marshal(ps[j])
					return string(a) < string(b)
				})
				ch.ReplacePaths = ps
			}
			c.Change = &ch
		}
		b, _ := json.Marshal(&c)
		out = append(out, canonicalChange{addr: rc.Address + " " + rc.DeposedKey, json: b, rc: &c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// firstDiff names the first field of two changes that differs.
func firstDiff(a, b *tfjson.ResourceChange) string {
	eq := func(x, y any) bool {
		p, _ := json.Marshal(x)
		q, _ := json.Marshal(y)
		return bytes.Equal(p, q)
	}
	if a.Change == nil || b.Change == nil {
		return "change"
	}
	for _, f := range []struct {
		name string
		x, y any
	}{
		{"actions", a.Change.Actions, b.Change.Actions}, {"before", a.Change.Before, b.Change.Before},
		{"after", a.Change.After, b.Change.After}, {"after_unknown", a.Change.AfterUnknown, b.Change.AfterUnknown},
		{"before_sensitive", a.Change.BeforeSensitive, b.Change.BeforeSensitive},
		{"after_sensitive", a.Change.AfterSensitive, b.Change.AfterSensitive},
		{"replace_paths", a.Change.ReplacePaths, b.Change.ReplacePaths}, {"importing", a.Change.Importing, b.Change.Importing},
		{"generated_config", a.Change.GeneratedConfig, b.Change.GeneratedConfig},
	} {
		if !eq(f.x, f.y) {
			return f.name
		}
	}
	return "address fields or action_reason"
}
