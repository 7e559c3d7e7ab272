// Package stateindex maps Terraform/OpenTofu state to the Kubernetes objects
// it manages and back: which resource address manages a live object, and
// which object an address names. It reads state (format version 4) from an
// S3 backend through aws-sdk-go-v2, reloads it only when the object's ETag or
// version changes, and never reads or takes the state lock.
//
// Supported resource types are those of package tfkube: the typed
// kubernetes_* resources of hashicorp/kubernetes 1.13, kubectl_manifest and
// kubernetes_manifest. Other resources are counted but not indexed.
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
}

// Empty is the index of a workspace with no state yet.
func Empty() *Index {
	return &Index{byAddr: map[string]int{}, byKey: map[string][]int{}, LoadedAt: time.Now()}
}

type stateFile struct {
	Version          int             `json:"version"`
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
// write it).
func Parse(b []byte) (*Index, error) {
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return nil, fmt.Errorf("parse state: %w", err)
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
			if r.Type == tfkube.TypeHelmRelease { // helm.go
				ix.addRelease(Address(r.Module, r.Type, r.Name, in.IndexKey), in.Attributes)
				continue
			}
			if !tfkube.Supported(r.Type) {
				continue
			}
			obj, err := tfkube.ObjectOf(r.Type, in.Attributes)
			if err != nil {
				continue
			}
			e := Entry{Address: Address(r.Module, r.Type, r.Name, in.IndexKey), Type: r.Type, Object: obj}
			e.ImportID, _ = tfkube.ImportID(r.Type, obj)
			ix.add(e)
		}
	}
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

// Len is the number of indexed entries.
func (ix *Index) Len() int { return len(ix.entries) }

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
// version either side names it by. More than one entry means two resources
// fight over one object.
func (ix *Index) Lookup(o events.ObjectRef) []Entry {
	idx := ix.byKey[tfkube.RefKey(o)]
	out := make([]Entry, 0, len(idx))
	for _, i := range idx {
		out = append(out, ix.entries[i])
	}
	return out
}

// Manages reports whether any entry manages o.
func (ix *Index) Manages(o events.ObjectRef) bool {
	return len(ix.byKey[tfkube.RefKey(o)]) > 0
}
