package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/services/watcher/internal/health"
)

// watchNodes reports node condition transitions until ctx ends. The last
// reported state of every node is kept in the state bucket, so a new term
// or a new leader does not report again what was reported.
func (t *term) watchNodes(ctx context.Context) {
	nodes := t.c.core.Nodes()
	inf := cache.NewSharedIndexInformerWithOptions(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return nodes.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return nodes.Watch(ctx, o)
		},
	}, &corev1.Node{}, cache.SharedIndexInformerOptions{ObjectDescription: "nodes"})
	// Keep only what health needs: a node object is large.
	_ = inf.SetTransform(func(obj any) (any, error) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return obj, nil
		}
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
			Status:     corev1.NodeStatus{Conditions: n.Status.Conditions},
		}, nil
	})
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{})
	defer q.ShutDown()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	})
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return
	}
	states := map[string]health.NodeState{}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		name, shutdown := q.Get()
		if shutdown {
			return
		}
		if err := t.processNode(ctx, inf, states, name); err != nil && ctx.Err() == nil {
			t.log.Warn("node health not recorded; retrying", "node", name, "err", err)
			q.AddRateLimited(name)
		} else {
			q.Forget(name)
		}
		q.Done(name)
	}
}

func (t *term) nodeKey(name string) string {
	return events.Key("watcher", "node", t.c.opts.Cluster.Name, name)
}

func (t *term) processNode(ctx context.Context, inf cache.SharedIndexInformer, states map[string]health.NodeState, name string) error {
	obj, exists, err := inf.GetIndexer().GetByKey(name)
	if err != nil {
		return err
	}
	key := t.nodeKey(name)
	if !exists {
		delete(states, name)
		if err := t.c.deps.State.Delete(ctx, key); err != nil {
			t.log.Debug("forget node state", "node", name, "err", err)
		}
		return nil
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return fmt.Errorf("node cache holds %T", obj)
	}
	prev, seen := states[name]
	if !seen {
		var st health.NodeState
		_, found, err := events.GetJSON(ctx, t.c.deps.State, key, &st)
		if err != nil {
			return err
		}
		if found {
			prev = st
		}
	}
	evs, next := health.NodeTransitions(t.c.opts.Cluster.Name, prev, n, time.Now())
	for _, e := range evs {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := t.c.deps.Publisher.Publish(pctx, e)
		cancel()
		if err != nil {
			return err
		}
		t.log.Info("node condition", "node", name, "condition", e.Condition, "status", e.Status, "severity", e.Severity)
	}
	if !sameState(prev, next) || prev == nil {
		if _, err := events.PutJSON(ctx, t.c.deps.State, key, next); err != nil {
			return err
		}
	}
	states[name] = next
	return nil
}

func sameState(a, b health.NodeState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.Status != y.Status || !x.Since.Equal(y.Since) {
			return false
		}
	}
	return true
}
