package live

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Cluster is a classify.Live (and classify.ObjectReader) that reads the
// cluster itself. Objects read are cached for the Cluster's lifetime, which
// is meant to be one classification.
type Cluster struct {
	name   string
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	mu    sync.Mutex
	cache map[string]*unstructured.Unstructured // nil entry: does not exist
}

// NewCluster returns a Live for the cluster cfg reaches; name is the
// cluster's name in the config.
func NewCluster(cfg *rest.Config, name string) (*Cluster, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: discovery client: %w", name, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: dynamic client: %w", name, err)
	}
	return &Cluster{name: name, dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		cache: map[string]*unstructured.Unstructured{}}, nil
}

func (c *Cluster) read(ctx context.Context, o events.ObjectRef) (*unstructured.Unstructured, *meta.RESTMapping, error) {
	groups := []string{tfkube.CanonicalGroup(o.Group, o.Kind)}
	if groups[0] != o.Group {
		groups = append(groups, o.Group)
	}
	var mapping *meta.RESTMapping
	var err error
	for _, g := range groups {
		mapping, err = c.mapper.RESTMapping(schema.GroupKind{Group: g, Kind: o.Kind})
		if err == nil {
			break
		}
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil, nil // the kind is not served: nothing of it exists
		}
		return nil, nil, fmt.Errorf("cluster %s: map %s: %w", c.name, o.Kind, err)
	}
	key := mapping.Resource.String() + "/" + o.Namespace + "/" + o.Name
	c.mu.Lock()
	u, cached := c.cache[key]
	c.mu.Unlock()
	if cached {
		return u, mapping, nil
	}
	var ri dynamic.ResourceInterface = c.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := o.Namespace
		if ns == "" {
			ns = "default"
		}
		ri = c.dyn.Resource(mapping.Resource).Namespace(ns)
	}
	u, err = ri.Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		u, err = nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("cluster %s: get %s: %w", c.name, o, err)
	}
	c.mu.Lock()
	c.cache[key] = u
	c.mu.Unlock()
	return u, mapping, nil
}

// Get reads o from the cluster and returns it as an inventory record.
func (c *Cluster) Get(ctx context.Context, o events.ObjectRef) (*events.InventoryRecord, bool, error) {
	u, mapping, err := c.read(ctx, o)
	if err != nil || u == nil {
		return nil, false, err
	}
	return ObjectRecord(c.name, tfkube.ResourceName(mapping.Resource.Resource, mapping.Resource.Group), u, time.Now()), true, nil
}

// Object reads o's content.
func (c *Cluster) Object(ctx context.Context, o events.ObjectRef) (map[string]any, bool, error) {
	u, _, err := c.read(ctx, o)
	if err != nil || u == nil {
		return nil, false, err
	}
	return u.Object, true, nil
}
