// Package loop is the controller loop the test controllers share: dynamic
// informers for a few resources enqueue keys, workers read the cache and call
// a reconcile function with a private copy of the object.
package loop

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Key names one object of one resource.
type Key struct {
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
}

func (k Key) String() string {
	return fmt.Sprintf("%s %s/%s", k.Resource.Resource, k.Namespace, k.Name)
}

// Reconcile brings one object to its desired state. obj is a copy the
// function may change; nil when the object is gone.
type Reconcile func(ctx context.Context, key Key, obj *unstructured.Unstructured) error

// Config is one controller loop.
type Config struct {
	Client    dynamic.Interface
	Resources []schema.GroupVersionResource
	Namespace string // empty: all namespaces
	Workers   int    // default 1
	Log       *slog.Logger
	Reconcile Reconcile
}

// maxRetries bounds how often a failing key is retried before it is dropped
// (and picked up again by the next change or resync).
const maxRetries = 10

// Run runs the loop until ctx ends. It returns an error only when the caches
// cannot sync.
func Run(ctx context.Context, c Config) error {
	if c.Workers < 1 {
		c.Workers = 1
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(c.Client, 10*time.Minute, c.Namespace, nil)
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[Key]())
	listers := map[schema.GroupVersionResource]cache.GenericLister{}
	for _, r := range c.Resources {
		inf := factory.ForResource(r)
		enqueue := func(obj any) {
			k, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				return
			}
			ns, name, err := cache.SplitMetaNamespaceKey(k)
			if err != nil {
				return
			}
			queue.Add(Key{Resource: r, Namespace: ns, Name: name})
		}
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
			DeleteFunc: enqueue,
		}); err != nil {
			return fmt.Errorf("watch %s: %w", r, err)
		}
		listers[r] = inf.Lister()
	}
	defer factory.Shutdown()
	defer queue.ShutDown()
	factory.Start(ctx.Done())
	for r, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("sync cache of %s", r)
		}
	}

	var wg sync.WaitGroup
	for range c.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for processNext(ctx, c, queue, listers) {
			}
		}()
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
	return nil
}

func processNext(ctx context.Context, c Config, queue workqueue.TypedRateLimitingInterface[Key], listers map[schema.GroupVersionResource]cache.GenericLister) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	var obj *unstructured.Unstructured
	var cached any
	var err error
	if key.Namespace != "" {
		cached, err = listers[key.Resource].ByNamespace(key.Namespace).Get(key.Name)
	} else {
		cached, err = listers[key.Resource].Get(key.Name)
	}
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		c.Log.Error("read cache", "key", key.String(), "err", err)
		queue.AddRateLimited(key)
		return true
	default:
		obj = cached.(*unstructured.Unstructured).DeepCopy()
	}
	if err := c.Reconcile(ctx, key, obj); err != nil {
		if ctx.Err() != nil {
			return true
		}
		if queue.NumRequeues(key) < maxRetries {
			c.Log.Warn("reconcile failed; retrying", "key", key.String(), "err", err)
			queue.AddRateLimited(key)
			return true
		}
		c.Log.Error("reconcile failed; dropping", "key", key.String(), "err", err)
	}
	queue.Forget(key)
	return true
}
