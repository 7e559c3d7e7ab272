package tofu

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"runtime"
	"sync"
	"weak"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ProvidersSchema runs `providers schema -json` in the initialised working
// dir: the schema of every provider the configuration uses. Runners whose
// providers give the same document get the same *ProviderSchemas (see
// shareSchemas): treat it as read-only.
func (r *Runner) ProvidersSchema(ctx context.Context) (*tfjson.ProviderSchemas, error) {
	tf, err := r.terraform(ctx, "providers schema")
	if err != nil {
		return nil, err
	}
	s, err := tf.ProvidersSchema(ctx)
	if err != nil {
		return nil, r.classify(ctx, "providers schema", err)
	}
	return shareSchemas(s), nil
}

// Catalog is ProvidersSchema read as the resource types the workspace's
// providers have (tfkube.Catalog). Read it once per init: the schema only
// changes when init installs other providers.
func (r *Runner) Catalog(ctx context.Context) (tfkube.Catalog, error) {
	s, err := r.ProvidersSchema(ctx)
	if err != nil {
		return tfkube.Catalog{}, err
	}
	return tfkube.CatalogOf(s), nil
}

// sharedSchemas holds, by the SHA-256 of its JSON, a weak pointer to each
// distinct schema document the process holds. A planner keeps the schema of
// every workspace it plans (the plan file decoder reads it), and workspaces
// mostly use the same providers at the same versions: one copy, not one per
// workspace (about 2 MB of heap each for hashicorp/kubernetes 1.13.4, 4.4 MB
// for 3.2.1). The entry goes when no runner holds the schema any more.
var sharedSchemas sync.Map // [sha256.Size]byte -> weak.Pointer[tfjson.ProviderSchemas]

// shareSchemas returns the copy of s the process already holds, or s (then
// held for the next caller).
func shareSchemas(s *tfjson.ProviderSchemas) *tfjson.ProviderSchemas {
	b, err := json.Marshal(s)
	if err != nil {
		return s
	}
	key := sha256.Sum256(b)
	wp := weak.Make(s)
	for {
		v, loaded := sharedSchemas.LoadOrStore(key, wp)
		if !loaded {
			runtime.AddCleanup(s, dropSharedSchemas, sharedEntry{key, wp})
			return s
		}
		if held := v.(weak.Pointer[tfjson.ProviderSchemas]).Value(); held != nil {
			return held
		}
		// Collected, its cleanup not run yet: replace the entry.
		sharedSchemas.CompareAndDelete(key, v)
	}
}

type sharedEntry struct {
	key [sha256.Size]byte
	wp  weak.Pointer[tfjson.ProviderSchemas]
}

// dropSharedSchemas removes a collected schema's entry, unless another copy
// has taken its place.
func dropSharedSchemas(e sharedEntry) { sharedSchemas.CompareAndDelete(e.key, e.wp) }
