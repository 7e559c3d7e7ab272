package live

// Reading a release's objects from the cluster (the gate has no
// inventory): Helm's record of the deployed revision names every object of
// the release in its manifest. Only the objects' identities are read from
// it; the record (values included, which may hold secrets) never leaves
// this file.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

var secretsGVR = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}

// ReleaseManifest lists the objects the deployed revision of the Helm
// release namespace/name names (Helm 3's secret storage driver), in the
// order of its manifest. It is empty when the release has no deployed
// revision.
func (c *Cluster) ReleaseManifest(ctx context.Context, _, namespace, name string) ([]events.ObjectRef, error) {
	list, err := c.dyn.Resource(secretsGVR).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: LabelHelmRecordOwner + "=helm," + LabelHelmRecordName + "=" + name + ",status=deployed"})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: release %s/%s: list its records: %w", c.name, namespace, name, err)
	}
	best, bestVersion := -1, -1
	for i, s := range list.Items {
		v, err := strconv.Atoi(s.GetLabels()["version"])
		if err == nil && v > bestVersion {
			best, bestVersion = i, v
		}
	}
	if best < 0 {
		return nil, nil
	}
	enc, _, _ := unstructured.NestedString(list.Items[best].Object, "data", "release")
	manifest, err := decodeReleaseManifest(enc)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: release %s/%s revision %d: %w", c.name, namespace, name, bestVersion, err)
	}
	var out []events.ObjectRef
	for _, m := range manifestObjects(manifest) {
		g, v := tfkube.SplitAPIVersion(m.apiVersion)
		ref := events.ObjectRef{Cluster: c.name, Group: g, Version: v, Kind: m.kind, Namespace: m.namespace, Name: m.name}
		mapping, err := c.mapper.RESTMapping(schema.GroupKind{Group: g, Kind: m.kind}, v)
		switch {
		case err == nil && mapping.Scope.Name() != meta.RESTScopeNameNamespace:
			ref.Namespace = ""
		case ref.Namespace == "":
			ref.Namespace = namespace
		}
		out = append(out, ref)
	}
	return out, nil
}

// ReleaseObjects reads the live objects of the release's deployed revision
// that exist.
func (c *Cluster) ReleaseObjects(ctx context.Context, cluster, namespace, name string) ([]events.InventoryRecord, error) {
	refs, err := c.ReleaseManifest(ctx, cluster, namespace, name)
	if err != nil {
		return nil, err
	}
	var out []events.InventoryRecord
	for _, ref := range refs {
		rec, ok, err := c.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, *rec)
		}
	}
	return out, nil
}

// decodeReleaseManifest reads the manifest out of a Secret's data.release:
// base64 (the Secret's) of base64 (Helm's) of gzipped JSON.
func decodeReleaseManifest(secretData string) (string, error) {
	helmEnc, err := base64.StdEncoding.DecodeString(secretData)
	if err != nil {
		return "", errors.New("the record is not base64")
	}
	raw, err := base64.StdEncoding.DecodeString(string(helmEnc))
	if err != nil {
		return "", errors.New("the record is not Helm's base64")
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return "", errors.New("the record is not gzip")
		}
		raw, err = io.ReadAll(io.LimitReader(zr, 64<<20))
		if err != nil {
			return "", errors.New("the record does not decompress")
		}
	}
	var rel struct {
		Manifest string `json:"manifest"`
	}
	if err := json.Unmarshal(raw, &rel); err != nil {
		return "", errors.New("the record is not a Helm release")
	}
	return rel.Manifest, nil
}

type manifestObject struct{ apiVersion, kind, namespace, name string }

// manifestObjects splits a rendered manifest into its objects' identities.
func manifestObjects(manifest string) []manifestObject {
	var out []manifestObject
	var doc strings.Builder
	flush := func() {
		var m struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal([]byte(doc.String()), &m) == nil && m.Kind != "" && m.Metadata.Name != "" {
			out = append(out, manifestObject{m.APIVersion, m.Kind, m.Metadata.Namespace, m.Metadata.Name})
		}
		doc.Reset()
	}
	sc := bufio.NewScanner(strings.NewReader(manifest))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "---") {
			flush()
			continue
		}
		doc.WriteString(line)
		doc.WriteByte('\n')
	}
	flush()
	return out
}
