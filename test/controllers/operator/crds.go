package operator

import (
	"context"
	"embed"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// CRDFieldManager is the field manager that installs the CRDs: the Helm
// chart that ships the real operator.
const CRDFieldManager = "helm"

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CRDs returns the real upstream CustomResourceDefinitions the operator
// installs, unmodified (crds/NOTICE.md): CloudNativePG 1.30.0's Cluster and
// ScheduledBackup, with their schema defaults, and Argo CD 3.5.1's Application.
func CRDs() ([]*unstructured.Unstructured, error) {
	entries, err := crdFiles.ReadDir("crds")
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, e := range entries {
		b, err := crdFiles.ReadFile("crds/" + e.Name())
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return nil, fmt.Errorf("CRD %s: %w", e.Name(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// InstallCRDs applies the CRDs (as the operator's Helm chart would) and waits
// until the API server serves them.
func InstallCRDs(ctx context.Context, client dynamic.Interface) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if _, err := client.Resource(crdResource).Apply(ctx, crd.GetName(), crd,
			metav1.ApplyOptions{FieldManager: CRDFieldManager, Force: true}); err != nil {
			return fmt.Errorf("install CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true,
			func(ctx context.Context) (bool, error) {
				got, err := client.Resource(crdResource).Get(ctx, crd.GetName(), metav1.GetOptions{})
				if err != nil {
					return false, nil //nolint:nilerr // not there yet: poll again
				}
				conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
				for _, c := range conds {
					if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
						return true, nil
					}
				}
				return false, nil
			}); err != nil {
			return fmt.Errorf("CRD %s not established: %w", crd.GetName(), err)
		}
	}
	return nil
}
