package tofu

import (
	"context"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ProvidersSchema runs `providers schema -json` in the initialised working
// dir: the schema of every provider the configuration uses.
func (r *Runner) ProvidersSchema(ctx context.Context) (*tfjson.ProviderSchemas, error) {
	tf, err := r.terraform(ctx, "providers schema")
	if err != nil {
		return nil, err
	}
	s, err := tf.ProvidersSchema(ctx)
	if err != nil {
		return nil, r.classify(ctx, "providers schema", err)
	}
	return s, nil
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
