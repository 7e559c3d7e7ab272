// Package stateindex maps Terraform/OpenTofu state to the Kubernetes objects
// it manages and back: which resource address manages a live object, and
// which object an address names. It reads state (format version 4) from an
// S3 backend through aws-sdk-go-v2, reloads it only when the object's ETag or
// version changes, and never reads or takes the state lock.
//
// Supported resource types are those of package tfkube: the typed
// kubernetes_* resources of hashicorp/kubernetes 1.13 to 3.x (unversioned,
// _v1 and _v2 names), kubernetes_manifest (whose manifest and object raw
// state stores as {"value", "type"}), kubectl_manifest, and the
// patch-style types (kubernetes_labels, kubernetes_annotations,
// kubernetes_env, kubernetes_config_map_v1_data, kubernetes_node_taint),
// which are indexed as partial managers: they manage some fields of an
// object someone else owns. Other resources are counted but not indexed.
//
// Parse reads raw state (format version 4, what the backend stores) and
// the output of `show -json` (format_version 1.x) alike.
package stateindex

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Entry is one resource instance in state that manages a Kubernetes object.
type Entry struct {
	Address string // module.app.kubernetes_deployment.web["a"]
	Type    string // kubernetes_deployment
	Object  tfkube.Object
	// ImportID is what would import this object into a resource of Type
	// (empty when the type cannot be imported).
	ImportID string
	// Partial is set for a patch-style resource (kubernetes_labels, ...):
	// it manages only the fields it sets, with FieldManager, on an object
	// created and owned by someone else.
	Partial      bool
	FieldManager string
}

// Index is one version of a workspace's state, indexed both ways.
type Index struct {
	Serial           int64
	Lineage          string
	TerraformVersion string
	// ETag and VersionID of the state object this index was read from
	// (empty for an index parsed from bytes or a missing state object).
	ETag      string
	VersionID string
	LoadedAt  time.Time
	// Resources counts every managed resource instance in state, indexed or
	// not.
	Resources int

	entries []Entry
	byAddr  map[string]int
	byKey   map[string][]int
	// releases are the helm_release instances (helm.go), by namespace/name.
	releases map[string][]releaseEntry
	// raw is the state object the index was read from (Source.Load), for
	// Scope; nil otherwise.
	raw []byte
}

// Empty is the index of a workspace with no state yet.
func Empty() *Index {
	return &Index{byAddr: map[string]int{}, byKey: map[string][]int{}, LoadedAt: time.Now()}
}

type stateFile struct {
	Version          int             `json:"version"`
	FormatVersion    string          `json:"format_version"`
	TerraformVersion string          `json:"terraform_version"`
	Serial           int64           `json:"serial"`
	Lineage          string          `json:"lineage"`
	Resources        []stateResource `json:"resources"`
}

type stateResource struct {
	Module    string          `json:"module"`
	Mode      string          `json:"mode"`
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Instances []stateInstance `json:"instances"`
}

type stateInstance struct {
	IndexKey   any            `json:"index_key"`
	Deposed    string         `json:"deposed"`
	Attributes map[string]any `json:"attributes"`
}

// Parse indexes a state file (format version 4, as tofu and terraform
// write it), or the output of `tofu show -json` / `terraform show -json`.
func Parse(b []byte) (*Index, error) {
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("parse state: %w", err)
	}
	if sf.Version == 0 && sf.FormatVersion != "" {
		return parseShow(b)
	}
	if sf.Version != 4 {
		return nil, fmt.Errorf("parse state: format version %d is not supported (want 4)", sf.Version)
	}
	ix := Empty()
	ix.Serial, ix.Lineage, ix.TerraformVersion = sf.Serial, sf.Lineage, sf.TerraformVersion
	for _, r := range sf.Resources {
		if r.Mode != "managed" {
			continue
		}
		for _, in := range r.Instances {
			if in.Deposed != "" {
				continue
			}
			ix.Resources++
			ix.addInstance(Address(r.Module, r.Type, r.Name, in.IndexKey), r.Type, in.Attributes)
		}
	}
	return ix, nil
}

// addInstance indexes one managed resource instance of a supported type.
func (ix *Index) addInstance(addr, tfType string, values map[string]any) {
	if tfType == tfkube.TypeHelmRelease { // helm.go
		ix.addRelease(addr, values)
		return
	}
	if !tfkube.Supported(tfType) {
		return
	}
	obj, err := tfkube.ObjectOf(tfType, values)
	if err != nil {
		return
	}
	e := Entry{Address: addr, Type: tfType, Object: obj, Partial: tfkube.IsPatch(tfType),
		FieldManager: tfkube.FieldManager(tfType, values)}
	e.ImportID, _ = tfkube.ImportID(tfType, obj)
	ix.add(e)
}

// showState is the part of `show -json` the index reads.
type showState struct {
	TerraformVersion string `json:"terraform_version"`
	Values           *struct {
		RootModule showModule `json:"root_module"`
	} `json:"values"`
}

type showModule struct {
	Resources []struct {
		Address string         `json:"address"`
		Mode    string         `json:"mode"`
		Type    string         `json:"type"`
		Deposed string         `json:"deposed_key"`
		Values  map[string]any `json:"values"`
	} `json:"resources"`
	ChildModules []showModule `json:"child_modules"`
}

// parseShow indexes the output of `show -json` (values hold plain
// values; it carries no serial or lineage).
func parseShow(b []byte) (*Index, error) {
	var st showState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse state (show -json): %w", err)
	}
	ix := Empty()
	ix.TerraformVersion = st.TerraformVersion
	if st.Values == nil {
		return ix, nil
	}
	var walk func(m showModule)
	walk = func(m showModule) {
		for _, r := range m.Resources {
			if r.Mode != "managed" || r.Deposed != "" {
				continue
			}
			ix.Resources++
			ix.addInstance(r.Address, r.Type, r.Values)
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(st.Values.RootModule)
	return ix, nil
}

// New builds an index from entries (tests, and callers that know their
// objects from elsewhere).
func New(entries ...Entry) *Index {
	ix := Empty()
	for _, e := range entries {
		ix.add(e)
	}
	ix.Resources = len(entries)
	return ix
}

func (ix *Index) add(e Entry) {
	i := len(ix.entries)
	ix.entries = append(ix.entries, e)
	ix.byAddr[e.Address] = i
	k := e.Object.Key()
	ix.byKey[k] = append(ix.byKey[k], i)
}

// Address renders a resource instance address:
// module.a.kubernetes_deployment.web[0], ...web["blue"].
func Address(module, typ, name string, indexKey any) string {
	a := typ + "." + name
	if module != "" {
		a = module + "." + a
	}
	switch k := indexKey.(type) {
	case nil:
	case string:
		a += "[" + strconv.Quote(k) + "]"
	case float64:
		a += "[" + strconv.FormatInt(int64(k), 10) + "]"
	case json.Number:
		a += "[" + k.String() + "]"
	default:
		a += fmt.Sprintf("[%v]", k)
	}
	return a
}

// Len is the number of indexed entries (resource instances that manage an
// object or part of one).
func (ix *Index) Len() int { return len(ix.entries) }

// Objects is the number of distinct live objects the entries manage (three
// patch-style resources on one Deployment are one object).
func (ix *Index) Objects() int { return len(ix.byKey) }

// Entries returns the indexed entries in address order.
func (ix *Index) Entries() []Entry {
	out := append([]Entry(nil), ix.entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// ByAddress returns the entry at a resource address.
func (ix *Index) ByAddress(addr string) (Entry, bool) {
	i, ok := ix.byAddr[addr]
	if !ok {
		return Entry{}, false
	}
	return ix.entries[i], true
}

// Lookup returns the entries that manage the live object o, whatever API
// version either side names it by. More than one entry that is not Partial
// means two resources fight over one object; Partial entries patch fields
// of an object owned by someone else (or by another entry).
func (ix *Index) Lookup(o events.ObjectRef) []Entry {
	idx := ix.byKey[tfkube.RefKey(o)]
	out := make([]Entry, 0, len(idx))
	for _, i := range idx {
		out = append(out, ix.entries[i])
	}
	return out
}

// Manages reports whether any entry manages o or part of it: an object a
// patch-style resource patches is never "unmanaged".
func (ix *Index) Manages(o events.ObjectRef) bool {
	return len(ix.byKey[tfkube.RefKey(o)]) > 0
}
