// Package churn is a stand-in for Argo CD's application controller as a
// source of churn: it re-adds the argocd.argoproj.io/instance label to every
// object it tracks whenever the label is removed or changed, under Argo CD's
// field manager. Terraform stripping that label and this controller putting
// it back is the ownership conflict driftgate reports as churn.
package churn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/driftgate/driftgate/test/controllers/internal/loop"
)

// Label is the label Argo CD tracks its objects by.
const Label = "argocd.argoproj.io/instance"

// FieldManager is Argo CD's field manager.
const FieldManager = "argocd-controller"

// Controller keeps Label=instance on the objects it tracks.
type Controller struct {
	client    dynamic.Interface
	instance  string
	resources []schema.GroupVersionResource
	cfg       config
}

type config struct {
	namespace string
	names     []string
	log       *slog.Logger
}

// Option configures a Controller.
type Option func(*config)

// WithNamespace tracks objects in one namespace only (default: all).
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithNames tracks only objects with these names (default: every object of
// the resources).
func WithNames(names ...string) Option { return func(c *config) { c.names = names } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// New returns a controller that keeps Label=instance on the objects of
// resources.
func New(client dynamic.Interface, instance string, resources []schema.GroupVersionResource, opts ...Option) *Controller {
	c := config{log: slog.Default()}
	for _, o := range opts {
		o(&c)
	}
	return &Controller{client: client, instance: instance, resources: resources, cfg: c}
}

// Run reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	return loop.Run(ctx, loop.Config{
		Client:    c.client,
		Resources: c.resources,
		Namespace: c.cfg.namespace,
		Log:       c.cfg.log.With("controller", FieldManager),
		Reconcile: c.reconcile,
	})
}

func (c *Controller) reconcile(ctx context.Context, key loop.Key, obj *unstructured.Unstructured) error {
	if obj == nil || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	if len(c.cfg.names) > 0 && !slices.Contains(c.cfg.names, key.Name) {
		return nil
	}
	if v, ok := obj.GetLabels()[Label]; ok && v == c.instance {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{Label: c.instance}}})
	if err != nil {
		return err
	}
	if _, err := c.client.Resource(key.Resource).Namespace(key.Namespace).Patch(ctx, key.Name, types.MergePatchType,
		patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("label %s: %w", key, err)
	}
	c.cfg.log.Info("re-added label", "key", key.String(), "label", Label, "value", c.instance)
	return nil
}
