package classify

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// The recordings of hashicorp/helm 1.3.2 on the lab (testdata/helm-1.3.2,
// see its README): examples/helm-app, release web in namespace helm-app.
const helmTestdata = "../../testdata/helm-1.3.2/"

func helmPlan(t *testing.T, file string) *tfjson.Plan {
	t.Helper()
	b, err := os.ReadFile(helmTestdata + file)
	if err != nil {
		t.Fatal(err)
	}
	var p tfjson.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func helmObject(t *testing.T, file string) *events.InventoryRecord {
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

// helmInventory puts the recorded objects in a real inventory bucket (an
// in-process JetStream) and returns it as the classifier's Live.
func helmInventory(t *testing.T, files ...string) live.Inventory {
	t.Helper()
	env := eventstest.Start(t)
	inv := live.Inventory{KV: env.Buckets.Inventory}
	for _, f := range files {
		rec := helmObject(t, f)
		if _, err := events.PutJSON(context.Background(), inv.KV, events.InventoryKey(rec.Object), rec); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}

var helmWS = Workspace{Name: "helm-app", Cluster: "lab"}

func classifyHelm(t *testing.T, inv live.Inventory, plan string, gone ...GoneObject) []Result {
	t.Helper()
	rs, err := New(helmWS, inv).Classify(context.Background(), Input{Plan: helmPlan(t, plan), Gone: gone, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var out []Result
	for _, r := range rs {
		if r.Finding.Address == "helm_release.web" {
			out = append(out, r)
		}
	}
	return out
}

var allHelmObjects = []string{"deployment-web.patched.json", "configmap-web-config.json", "svc-web.json", "ingress-web.json",
	"replicaset.json", "release-record-secret.json"}

// TestHelmReleasePatchedObject: after `kubectl patch` of the release's
// Deployment the plan shows no changes, yet the release has exactly one
// changed finding: the Deployment, spec.replicas, kubectl-patch. Helm's own
// fields (Go-http-client, the owner of the release-name annotation), the
// controller's (kube-controller-manager), the ReplicaSet and Helm's release
// record are not drift, and the ConfigMap, upgraded by Terraform, is clean.
func TestHelmReleasePatchedObject(t *testing.T) {
	inv := helmInventory(t, allHelmObjects...)
	rs := classifyHelm(t, inv, "plan.json")
	if len(rs) != 1 {
		t.Fatalf("want one finding, got %d: %+v", len(rs), rs)
	}
	f := rs[0].Finding
	if f.Class != events.ClassChanged || f.Object.Kind != "Deployment" || f.Object.Name != "web" || f.Object.Namespace != "helm-app" ||
		!slices.Equal(f.Paths, []string{"spec.replicas"}) || len(f.Attribution) != 1 || f.Attribution[0].Manager != "kubectl-patch" ||
		f.RecommendedAction != ActionRevert {
		t.Fatalf("finding %+v", f)
	}
	if f.ID != ReleaseObjectID("helm-app", "helm_release.web", f.Object, events.ClassChanged) {
		t.Errorf("id %s is not the object's", f.ID)
	}
	// The planner does not show a plan without changes: the releases it
	// covered are classified all the same.
	nilPlan, err := New(helmWS, inv).Classify(context.Background(), Input{Now: time.Now(),
		Releases: []Release{{Address: "helm_release.web", HelmRelease: tfkube.HelmRelease{Namespace: "helm-app", Name: "web"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(nilPlan) != 1 || nilPlan[0].Finding.ID != f.ID || !slices.Equal(nilPlan[0].Finding.Paths, f.Paths) {
		t.Fatalf("without a plan: %+v", nilPlan)
	}
}

// TestHelmReleaseDeletedObject: the Ingress deleted live (the plan again
// shows no changes) is deleted of the release while it stays missing, and
// nothing once it is back.
func TestHelmReleaseDeletedObject(t *testing.T) {
	ing := helmObject(t, "ingress-web.json").Object
	gone := GoneObject{Address: "helm_release.web", Object: ing}
	inv := helmInventory(t, "configmap-web-config.json", "svc-web.json", "release-record-secret.json")
	rs := classifyHelm(t, inv, "plan-ingress-deleted.json", gone)
	if len(rs) != 1 {
		t.Fatalf("want one finding, got %+v", rs)
	}
	f := rs[0].Finding
	if f.Class != events.ClassDeleted || f.Object.Kind != "Ingress" || f.Object.Group != "networking.k8s.io" || f.Object.Name != "web" ||
		f.RecommendedAction != ActionRecreate {
		t.Fatalf("finding %+v", f)
	}
	back := helmInventory(t, "configmap-web-config.json", "svc-web.json", "ingress-web.json")
	if rs := classifyHelm(t, back, "plan-ingress-deleted.json", gone); len(rs) != 0 {
		t.Fatalf("the Ingress is back, yet: %+v", rs)
	}
}

// TestHelmReleasePlanFindings: the plan's own view of a release. An
// unapplied value change is pending-config; the release live with an empty
// state is unimported with the import ID tofu import accepted
// (testdata state-imported.json).
func TestHelmReleasePlanFindings(t *testing.T) {
	inv := helmInventory(t, "configmap-web-config.json", "svc-web.json", "ingress-web.json", "release-record-secret.json")
	rs := classifyHelm(t, inv, "plan-pending.json")
	if len(rs) != 1 || rs[0].Finding.Class != events.ClassPendingConfig || !slices.Contains(rs[0].Finding.Paths, "set") {
		t.Fatalf("pending: %+v", rs)
	}
	rs = classifyHelm(t, inv, "plan-empty-state.json")
	if len(rs) != 1 || rs[0].Finding.Class != events.ClassUnimported || rs[0].Finding.ImportID != "helm-app/web" {
		t.Fatalf("empty state: %+v", rs)
	}
	empty := helmInventory(t)
	rs = classifyHelm(t, empty, "plan-empty-state.json")
	if len(rs) != 1 || rs[0].Finding.Class != events.ClassPendingConfig {
		t.Fatalf("empty state, nothing live: %+v", rs)
	}
}
