package stateindex

import (
	"encoding/json"
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
)

const helmTestdata = "../../testdata/helm-1.3.2/"

func recordedObject(t *testing.T, file string) *events.InventoryRecord {
	t.Helper()
	b, err := os.ReadFile(helmTestdata + file)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal(b, &u.Object); err != nil {
		t.Fatal(err)
	}
	return live.ObjectRecord("lab", "", u, u.GetCreationTimestamp().Time)
}

// TestHelmReleaseIndex reads the recorded state of examples/helm-app
// (hashicorp/helm 1.3.2): the release is indexed by namespace/name with
// its import ID, and the release's live objects (by Helm's marks) map to
// helm_release.web, but neither its ReplicaSet (a controller's copy of the
// marks) nor objects of other releases do.
func TestHelmReleaseIndex(t *testing.T) {
	b, err := os.ReadFile(helmTestdata + "state.json")
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	rs := ix.Releases()
	if len(rs) != 1 || rs[0].Address != "helm_release.web" || rs[0].Namespace != "helm-app" || rs[0].Name != "web" ||
		rs[0].ImportID() != "helm-app/web" || rs[0].Revision != 2 || ix.ReleaseRevision("helm_release.web") != 2 {
		t.Fatalf("releases %+v", rs)
	}
	if ix.Resources != 2 || ix.Len() != 1 { // the namespace is the one object entry
		t.Fatalf("resources %d, entries %d", ix.Resources, ix.Len())
	}
	for _, file := range []string{"deployment-web.patched.json", "configmap-web-config.json", "svc-web.json", "ingress-web.json", "release-record-secret.json"} {
		rec := recordedObject(t, file)
		es := ix.LookupOwned(rec.Object, rec.Owners)
		if len(es) != 1 || es[0].Address != "helm_release.web" || es[0].ImportID != "helm-app/web" ||
			es[0].Object.Name != rec.Object.Name || es[0].Object.Kind != rec.Object.Kind {
			t.Errorf("%s: LookupOwned %+v", file, es)
		}
		if len(ix.Lookup(rec.Object)) != 0 {
			t.Errorf("%s: Lookup (by state alone) finds the object", file)
		}
	}
	rsRec := recordedObject(t, "replicaset.json")
	if rsRec.Owners.Helm == nil {
		t.Fatal("the ReplicaSet carries no Helm marks: the recording changed")
	}
	if es := ix.LookupOwned(rsRec.Object, rsRec.Owners); len(es) != 0 {
		t.Errorf("ReplicaSet mapped to %+v", es)
	}
	other := recordedObject(t, "deployment-web.patched.json")
	other.Owners.Helm = &events.HelmRelease{Release: "other", Namespace: "helm-app"}
	if es := ix.LookupOwned(other.Object, other.Owners); len(es) != 0 {
		t.Errorf("an object of another release mapped to %+v", es)
	}
}
