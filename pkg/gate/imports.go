package gate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
	"github.com/driftgate/driftgate/pkg/verify"
)

// DefaultImportsFile is where driftgate adopt writes import blocks, in the
// workspace's directory.
const DefaultImportsFile = "driftgate_imports.tf"

// PendingImport is an import block of the configuration that the next apply
// carries out.
type PendingImport struct {
	Address string           `json:"address"`
	ID      string           `json:"id"`
	Object  events.ObjectRef `json:"object"`
	// File is the imports file when it declares the block ("" when the
	// block is elsewhere in the configuration).
	File    string   `json:"file,omitempty"`
	Actions []string `json:"actions"`
	// Settled are the Terraform-only attributes apply writes into the state
	// (wait_for_rollout, timeouts): nothing live changes.
	Settled []string `json:"settled,omitempty"`
	// Ignored are fields that differ but the workspace ignores.
	Ignored []string `json:"ignored,omitempty"`
	// Blocking are the differences that would change the live object on
	// apply (Secret values redacted): such an import fails the gate.
	Blocking []string `json:"blocking,omitempty"`
}

var toLine = regexp.MustCompile(`^\s*to\s*=\s*(.+?)\s*$`)

// DeclaredImports reads the addresses the import blocks of an imports file
// import to (a file driftgate adopt wrote, or one written like it: one
// `to = ADDRESS` line per block). A missing file declares none.
func DeclaredImports(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(l, "import ") || l == "import{":
			in = true
		case l == "}":
			in = false
		case in:
			if m := toLine.FindStringSubmatch(l); m != nil {
				out[m[1]] = true
			}
		}
	}
	return out, sc.Err()
}

// pendingImports judges each import the plan carries out, by address.
func pendingImports(ctx context.Context, p *Planned, file string) (map[string]PendingImport, error) {
	out := map[string]PendingImport{}
	if p.Result.Plan == nil {
		return out, nil
	}
	if file == "" {
		file = DefaultImportsFile
	}
	declared, err := DeclaredImports(filepath.Join(p.Dir, file))
	if err != nil {
		return nil, fmt.Errorf("imports file: %w", err)
	}
	for _, rc := range p.Result.Plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Change.Importing == nil {
			continue
		}
		vals, _ := rc.Change.Before.(map[string]any)
		if vals == nil {
			vals, _ = rc.Change.After.(map[string]any)
		}
		obj, _ := tfkube.ObjectOf(rc.Type, vals)
		pi := PendingImport{Address: rc.Address, ID: rc.Change.Importing.ID, Object: obj.Ref(p.Cluster)}
		if declared[rc.Address] {
			pi.File = file
		}
		for _, a := range rc.Change.Actions {
			pi.Actions = append(pi.Actions, string(a))
		}
		var liveObj map[string]any
		var owners map[string]events.Attribution
		if obj.Name != "" {
			m, ok, err := p.Live.Object(ctx, pi.Object)
			if err != nil {
				return nil, fmt.Errorf("pending import %s: read %s: %w", rc.Address, pi.Object, err)
			}
			if ok {
				liveObj = m
				owners = tfkube.FieldOwners((&unstructured.Unstructured{Object: m}).GetManagedFields())
			}
		}
		v, err := verify.Import(p.Result.Plan, rc.Address, obj, p.Workspace.Ignore, owners, liveObj)
		if err != nil {
			return nil, fmt.Errorf("pending import %s: %w", rc.Address, err)
		}
		pi.Ignored, pi.Blocking = v.Ignored, v.Blocking
		for k := range v.Settle {
			pi.Settled = append(pi.Settled, k)
		}
		slices.Sort(pi.Settled)
		out[rc.Address] = pi
	}
	return out, nil
}
