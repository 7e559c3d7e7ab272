package tfkube

// This file reads which resource types a provider really has from its
// schema (`tofu providers schema -json`), so that a type of an unknown
// provider version is reported, not guessed.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Catalog is the set of resource types of the providers a workspace uses,
// read from their schema.
type Catalog struct {
	types      map[string]string // type -> provider source address
	deprecated map[string]bool
}

// CatalogOf reads a provider schema document.
func CatalogOf(s *tfjson.ProviderSchemas) Catalog {
	c := Catalog{types: map[string]string{}, deprecated: map[string]bool{}}
	if s == nil {
		return c
	}
	for addr, p := range s.Schemas {
		if p == nil {
			continue
		}
		for t, rs := range p.ResourceSchemas {
			c.types[t] = addr
			if rs != nil && rs.Block != nil && rs.Block.Deprecated {
				c.deprecated[t] = true
			}
		}
	}
	return c
}

// ParseCatalog parses the output of `providers schema -json`.
func ParseCatalog(b []byte) (Catalog, error) {
	var s tfjson.ProviderSchemas
	if err := json.Unmarshal(b, &s); err != nil {
		return Catalog{}, fmt.Errorf("parse provider schema: %w", err)
	}
	return CatalogOf(&s), nil
}

// Known reports whether a provider of the workspace has tfType. An empty
// catalog (no schema read) knows nothing and Check accepts everything.
func (c Catalog) Known(tfType string) bool {
	_, ok := c.types[tfType]
	return ok
}

// Deprecated reports whether the provider marks tfType deprecated
// (provider 3.x: every unversioned kubernetes_* name).
func (c Catalog) Deprecated(tfType string) bool { return c.deprecated[tfType] }

// Len is the number of resource types.
func (c Catalog) Len() int { return len(c.types) }

// Check says what this package makes of tfType: nil when it manages a
// Kubernetes object (or part of one) this package identifies, or it is
// not a Kubernetes type at all; an error naming the type when a Kubernetes
// provider's type is not in the schema, or is in it but maps to no kind
// (a type of a newer provider: reported, not guessed).
func (c Catalog) Check(tfType string) error {
	kubernetes := strings.HasPrefix(tfType, "kubernetes_") || tfType == TypeKubectlManifest
	if !kubernetes {
		return nil
	}
	if c.Len() > 0 && !c.Known(tfType) {
		return fmt.Errorf("resource type %s is not in the schema of the workspace's providers", tfType)
	}
	if !Supported(tfType) {
		return fmt.Errorf("resource type %s (%s) maps to no Kubernetes object driftgate knows", tfType, c.types[tfType])
	}
	return nil
}

// Unmapped lists the kubernetes_* resource types of the catalog that map to
// no object (types that name none, such as kubernetes_token_request_v1,
// and types newer than this package), sorted.
func (c Catalog) Unmapped() []string {
	var out []string
	for t := range c.types {
		if c.Check(t) != nil {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}
