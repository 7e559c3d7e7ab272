// Package operator is a stand-in for the CloudNativePG operator, small enough
// to run inside a test: it defaults spec fields of postgresql.cnpg.io Cluster
// and ScheduledBackup objects and writes their status, both by server-side
// apply under its own field manager (FieldManager), so a plan that compares
// Terraform's state with the live object sees fields that an operator, not
// Terraform, owns.
//
// It defaults only fields that are absent, keeps the ones it defaulted
// earlier (it re-applies them with their current value, so server-side apply
// does not drop them), and never touches a field another manager has taken
// over.
package operator

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/driftgate/driftgate/test/controllers/internal/loop"
)

// FieldManager is the operator's field manager, for both spec defaults and
// status.
const FieldManager = "cnpg-operator"

// The resources the operator reconciles.
var (
	ClusterResource         = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "clusters"}
	ScheduledBackupResource = schema.GroupVersionResource{Group: "postgresql.cnpg.io", Version: "v1", Resource: "scheduledbackups"}
)

// Default is a spec field the operator sets when it is absent.
type Default struct {
	Path  []string
	Value any // string, bool or int64
}

// ClusterDefaults are the Cluster spec fields the operator defaults, after
// CNPG's own defaults.
var ClusterDefaults = []Default{
	{[]string{"spec", "imageName"}, "ghcr.io/cloudnative-pg/postgresql:17.2"},
	{[]string{"spec", "primaryUpdateStrategy"}, "unsupervised"},
	{[]string{"spec", "enableSuperuserAccess"}, false},
	{[]string{"spec", "logLevel"}, "info"},
	{[]string{"spec", "storage", "size"}, "1Gi"},
	{[]string{"spec", "storage", "resizeInUseVolumes"}, true},
	{[]string{"spec", "postgresql", "parameters", "max_connections"}, "100"},
	{[]string{"spec", "postgresql", "parameters", "shared_buffers"}, "128MB"},
	{[]string{"spec", "postgresql", "parameters", "wal_keep_size"}, "512MB"},
	{[]string{"spec", "postgresql", "parameters", "archive_mode"}, "on"},
}

// ScheduledBackupDefaults are the ScheduledBackup spec fields it defaults.
var ScheduledBackupDefaults = []Default{
	{[]string{"spec", "method"}, "barmanObjectStore"},
	{[]string{"spec", "target"}, "prefer-standby"},
	{[]string{"spec", "backupOwnerReference"}, "none"},
	{[]string{"spec", "immediate"}, false},
	{[]string{"spec", "suspend"}, false},
}

// Operator reconciles Clusters and ScheduledBackups.
type Operator struct {
	client dynamic.Interface
	cfg    config
}

type config struct {
	namespace string
	log       *slog.Logger
	now       func() time.Time
}

// Option configures an Operator.
type Option func(*config)

// WithNamespace watches one namespace only (default: all).
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// New returns an operator that talks to the API server through client.
func New(client dynamic.Interface, opts ...Option) *Operator {
	c := config{log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	return &Operator{client: client, cfg: c}
}

// Run reconciles until ctx ends. The CRDs must be installed (InstallCRDs).
func (o *Operator) Run(ctx context.Context) error {
	return loop.Run(ctx, loop.Config{
		Client:    o.client,
		Resources: []schema.GroupVersionResource{ClusterResource, ScheduledBackupResource},
		Namespace: o.cfg.namespace,
		Log:       o.cfg.log.With("controller", FieldManager),
		Reconcile: o.reconcile,
	})
}

func (o *Operator) reconcile(ctx context.Context, key loop.Key, obj *unstructured.Unstructured) error {
	if obj == nil || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	var (
		defaults []Default
		status   func(obj *unstructured.Unstructured, cur map[string]any) map[string]any
	)
	switch key.Resource {
	case ClusterResource:
		defaults, status = ClusterDefaults, o.clusterStatus
	case ScheduledBackupResource:
		defaults, status = ScheduledBackupDefaults, o.backupStatus
	default:
		return nil
	}
	obj, err := o.applyDefaults(ctx, key, obj, defaults)
	if err != nil {
		return err
	}
	return o.applyStatus(ctx, key, obj, status)
}

// applyDefaults applies the absent defaults, together with the fields the
// operator set before (so that apply keeps them), and returns the object as
// the API server has it afterwards.
func (o *Operator) applyDefaults(ctx context.Context, key loop.Key, obj *unstructured.Unstructured, defaults []Default) (*unstructured.Unstructured, error) {
	owned, err := ownedFields(obj, FieldManager, "")
	if err != nil {
		return nil, err
	}
	apply := skeleton(obj)
	missing := 0
	for _, d := range defaults {
		cur, found, err := unstructured.NestedFieldNoCopy(obj.Object, d.Path...)
		if err != nil {
			// A path through a non-object: someone else's shape; leave it.
			continue
		}
		var v any
		switch {
		case !found:
			v, missing = d.Value, missing+1
		case owned.Has(pathOf(d.Path)):
			v = runtime.DeepCopyJSONValue(cur)
		default:
			continue
		}
		if err := unstructured.SetNestedField(apply.Object, v, d.Path...); err != nil {
			return nil, fmt.Errorf("default %v: %w", d.Path, err)
		}
	}
	if missing == 0 {
		return obj, nil
	}
	out, err := o.client.Resource(key.Resource).Namespace(key.Namespace).Apply(ctx, key.Name, apply,
		metav1.ApplyOptions{FieldManager: FieldManager})
	if err != nil {
		return nil, fmt.Errorf("apply defaults to %s: %w", key, err)
	}
	o.cfg.log.Info("defaulted spec", "key", key.String(), "fields", missing)
	return out, nil
}

// applyStatus writes the status status computes, unless it is already there.
func (o *Operator) applyStatus(ctx context.Context, key loop.Key, obj *unstructured.Unstructured,
	status func(*unstructured.Unstructured, map[string]any) map[string]any) error {
	cur, _, _ := unstructured.NestedMap(obj.Object, "status")
	want := status(obj, cur)
	if equality.Semantic.DeepEqual(cur, want) {
		return nil
	}
	apply := skeleton(obj)
	apply.Object["status"] = want
	if _, err := o.client.Resource(key.Resource).Namespace(key.Namespace).ApplyStatus(ctx, key.Name, apply,
		metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply status of %s: %w", key, err)
	}
	return nil
}

// clusterStatus pretends every instance is up: the lab runs no Pods.
func (o *Operator) clusterStatus(obj *unstructured.Unstructured, cur map[string]any) map[string]any {
	n, _, _ := unstructured.NestedInt64(obj.Object, "spec", "instances")
	names := make([]any, 0, n)
	for i := int64(1); i <= n; i++ {
		names = append(names, obj.GetName()+"-"+strconv.FormatInt(i, 10))
	}
	primary := ""
	if n > 0 {
		primary = obj.GetName() + "-1"
	}
	since := o.cfg.now().UTC().Format(time.RFC3339)
	if conds, ok := cur["conditions"].([]any); ok {
		for _, c := range conds {
			if c, ok := c.(map[string]any); ok && c["type"] == "Ready" && c["status"] == "True" {
				if t, ok := c["lastTransitionTime"].(string); ok {
					since = t
				}
			}
		}
	}
	return map[string]any{
		"phase":          "Cluster in healthy state",
		"instances":      n,
		"readyInstances": n,
		"currentPrimary": primary,
		"targetPrimary":  primary,
		"instanceNames":  names,
		"conditions": []any{map[string]any{
			"type":               "Ready",
			"status":             "True",
			"reason":             "ClusterIsReady",
			"message":            "Cluster is Ready",
			"observedGeneration": obj.GetGeneration(),
			"lastTransitionTime": since,
		}},
	}
}

// backupStatus records when the operator first saw the backup.
func (o *Operator) backupStatus(_ *unstructured.Unstructured, cur map[string]any) map[string]any {
	checked, ok := cur["lastCheckTime"].(string)
	if !ok {
		checked = o.cfg.now().UTC().Format(time.RFC3339)
	}
	return map[string]any{"lastCheckTime": checked}
}

// skeleton is an apply configuration naming obj and nothing else.
func skeleton(obj *unstructured.Unstructured) *unstructured.Unstructured {
	s := &unstructured.Unstructured{Object: map[string]any{}}
	s.SetAPIVersion(obj.GetAPIVersion())
	s.SetKind(obj.GetKind())
	s.SetNamespace(obj.GetNamespace())
	s.SetName(obj.GetName())
	return s
}

// ownedFields returns the fields manager owns on obj through apply, on the
// subresource ("" for the main resource).
func ownedFields(obj *unstructured.Unstructured, manager, subresource string) (*fieldpath.Set, error) {
	set := &fieldpath.Set{}
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != metav1.ManagedFieldsOperationApply ||
			mf.Subresource != subresource || mf.FieldsV1 == nil {
			continue
		}
		s := &fieldpath.Set{}
		if err := s.FromJSON(bytes.NewReader(mf.FieldsV1.Raw)); err != nil {
			return nil, fmt.Errorf("managed fields of %s: %w", obj.GetName(), err)
		}
		set = set.Union(s)
	}
	return set, nil
}

// pathOf turns a field path into a structured-merge-diff path.
func pathOf(p []string) fieldpath.Path {
	parts := make([]any, len(p))
	for i, s := range p {
		parts[i] = s
	}
	return fieldpath.MakePathOrDie(parts...)
}
