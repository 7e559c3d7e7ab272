package classify

// Helm releases (hashicorp/helm's helm_release). A release manages objects
// its state does not name, and its plan never compares them with the
// cluster: a kubectl patch of a release's Deployment, or its Ingress deleted
// by hand, leaves the plan empty ("No changes"). The drift of a release is
// therefore read live, from the objects that carry the release's marks
// (live.HelmReleaseOf) and who owns their fields:
//
//   - a field of a release object owned by a manager other than Helm (and
//     not a controller's bookkeeping) is `changed`, attributed to that
//     manager, one finding per object;
//   - a release object seen deleted (GoneObject) and still missing is
//     `deleted`;
//   - Helm's own writes — an install or upgrade by Terraform — are never
//     drift. Helm 3 sets no field manager, so the API server names it after
//     the client's user agent (hashicorp/helm 1.3.2 records
//     "Go-http-client"); the manager that owns the release-name annotation
//     on the object is therefore Helm, whatever its name.
//
// The plan itself still classifies the release: a create of a release that
// exists live is `unimported` (import ID namespace/name), an unapplied
// configuration change is `pending-config`, a release changed or
// uninstalled outside Terraform (the plan's drift) is `changed` or
// `deleted`.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ReleaseLister is implemented by a Live that can list the live objects of
// a Helm release (live.Inventory does). Without it only the plan's view of
// a release is classified.
type ReleaseLister interface {
	ReleaseObjects(ctx context.Context, cluster, namespace, name string) ([]events.InventoryRecord, error)
}

// ReleaseManifestReader is implemented by a Live that reads Helm's record of
// a release (live.Cluster, for the gate): every object the deployed revision
// names, so one that is missing is deleted without having been seen go.
type ReleaseManifestReader interface {
	ReleaseManifest(ctx context.Context, cluster, namespace, name string) ([]events.ObjectRef, error)
}

// GoneObject is an object of the release at Address that was seen deleted
// live (or was reported deleted by an earlier plan): it is `deleted` while
// it is still missing.
type GoneObject struct {
	Address string
	Object  events.ObjectRef
}

// ReleaseObjectID is the finding id of a finding about one object of a
// release: a release has many objects, so the object is part of it.
func ReleaseObjectID(workspace, address string, o events.ObjectRef, class string) string {
	return events.FindingID(workspace, address+"\x00object:"+tfkube.RefKey(o), class)
}

// helmRelease classifies one helm_release address.
func (c *Classifier) helmRelease(ctx context.Context, in Input, rc, d *tfjson.ResourceChange, act string) ([]Result, error) {
	src := rc
	if src == nil {
		src = d
	}
	vals := asMap(src.Change.Before)
	if act == "create" || vals == nil {
		vals = asMap(src.Change.After)
	}
	rel, err := tfkube.HelmReleaseOf(vals)
	if err != nil {
		return []Result{c.result(src, tfkube.Object{}, events.ClassPendingConfig, act, nil, nil, in.Now,
			"a Helm release whose name is not known until apply")}, nil
	}
	if d != nil && d.Change.Actions.Delete() {
		return []Result{c.result(src, tfkube.Object{}, events.ClassDeleted, act, nil, nil, in.Now,
			fmt.Sprintf("the Helm release %s is in state but Helm no longer has it (uninstalled outside Terraform)", rel))}, nil
	}
	switch act {
	case "create":
		if lister, ok := c.live.(ReleaseLister); ok {
			objs, err := lister.ReleaseObjects(ctx, c.ws.Cluster, rel.Namespace, rel.Name)
			if err != nil {
				return nil, fmt.Errorf("classify %s: objects of release %s: %w", src.Address, rel, err)
			}
			if len(objs) > 0 {
				var attr []events.Attribution
				for _, o := range objs {
					attr = append(attr, managers(o.Managers)...)
				}
				r := c.result(src, tfkube.Object{}, events.ClassUnimported, act, nil, attr, in.Now,
					fmt.Sprintf("apply would install the Helm release %s, which already exists in the cluster (%d objects)", rel, len(objs)))
				r.Finding.ImportID = rel.ImportID()
				return []Result{r}, nil
			}
		}
		return []Result{c.result(src, tfkube.Object{}, events.ClassPendingConfig, act, nil, nil, in.Now,
			"in the configuration, not in state: apply would install the release")}, nil
	case "delete":
		return []Result{c.result(src, tfkube.Object{}, events.ClassPendingConfig, act, nil, nil, in.Now,
			"removed from the configuration: apply would uninstall the release")}, nil
	}
	var out []Result
	var drifted []string
	if d != nil {
		drifted = topLevelDiff(d.Change.Before, d.Change.After)
	}
	if len(drifted) > 0 {
		out = append(out, c.result(src, tfkube.Object{}, events.ClassChanged, act, drifted, nil, in.Now,
			fmt.Sprintf("the Helm release %s changed outside Terraform (an upgrade or rollback by hand)", rel)))
	} else if rc != nil && act != "none" {
		out = append(out, c.result(src, tfkube.Object{}, events.ClassPendingConfig, act,
			topLevelDiff(rc.Change.Before, rc.Change.After), nil, in.Now,
			"the configuration changed and was not applied: apply would upgrade the release"))
	}
	rs, err := c.releaseDrift(ctx, in, Release{Address: src.Address, HelmRelease: rel}, act)
	return append(out, rs...), err
}

// Release is a helm_release instance a plan covers (Input.Releases).
type Release struct {
	Address string
	tfkube.HelmRelease
}

// releaseDrift classifies the live objects of a release: changed fields,
// deleted objects. act is the plan's action on the release.
func (c *Classifier) releaseDrift(ctx context.Context, in Input, rel Release, act string) ([]Result, error) {
	lister, ok := c.live.(ReleaseLister)
	if !ok {
		return nil, nil
	}
	objs, err := lister.ReleaseObjects(ctx, c.ws.Cluster, rel.Namespace, rel.Name)
	if err != nil {
		return nil, fmt.Errorf("classify %s: objects of release %s: %w", rel.Address, rel.HelmRelease, err)
	}
	sort.Slice(objs, func(i, j int) bool { return tfkube.RefKey(objs[i].Object) < tfkube.RefKey(objs[j].Object) })
	var out []Result
	for i := range objs {
		out = append(out, c.releaseObject(rel.Address, rel.HelmRelease, &objs[i], act, in)...)
	}
	gone := in.Gone
	if mr, ok := c.live.(ReleaseManifestReader); ok {
		refs, err := mr.ReleaseManifest(ctx, c.ws.Cluster, rel.Namespace, rel.Name)
		if err != nil {
			return nil, fmt.Errorf("classify %s: record of release %s: %w", rel.Address, rel.HelmRelease, err)
		}
		for _, ref := range refs {
			gone = append(gone, GoneObject{Address: rel.Address, Object: ref})
		}
	}
	reported := map[string]bool{}
	for _, g := range gone {
		if g.Address != rel.Address || reported[tfkube.RefKey(g.Object)] {
			continue
		}
		reported[tfkube.RefKey(g.Object)] = true
		_, exists, err := c.live.Get(ctx, g.Object)
		if err != nil {
			return nil, fmt.Errorf("classify %s: look up %s: %w", rel.Address, g.Object, err)
		}
		if exists {
			continue
		}
		obj := objectOfRef(g.Object, "")
		r := c.result(&tfjson.ResourceChange{Address: rel.Address}, obj, events.ClassDeleted, act, nil, nil, in.Now,
			fmt.Sprintf("an object of the Helm release %s was deleted live; the plan shows nothing because helm_release does not compare its objects with the cluster (re-create it with tofu apply -replace=%s)", rel.HelmRelease, rel.Address))
		r.Finding.ID = ReleaseObjectID(c.ws.Name, rel.Address, r.Finding.Object, events.ClassDeleted)
		out = append(out, r)
	}
	return out, nil
}

// unplannedReleases classifies the live objects of the releases in
// in.Releases the plan does not list (a plan without changes is not shown
// at all: its releases' objects can still have drifted).
func (c *Classifier) unplannedReleases(ctx context.Context, in Input, seen map[string]bool) ([]Result, error) {
	var out []Result
	for _, r := range in.Releases {
		if seen[r.Address] {
			continue
		}
		rs, err := c.releaseDrift(ctx, in, r, "none")
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// releaseObject classifies the fields of one live object of a release that
// someone other than Helm owns.
func (c *Classifier) releaseObject(address string, rel tfkube.HelmRelease, rec *events.InventoryRecord, act string, in Input) []Result {
	if rec.Owners.Helm != nil && rec.Owners.Helm.Record {
		return nil // Helm's own record of the release
	}
	helmManager := tfkube.OwnerOf(helmReleaseAnnotation, rec.FieldOwners).Manager
	obj := objectOfRef(rec.Object, rec.Resource)
	var changed, ignored, why []string
	var attrChanged, attrIgnored []events.Attribution
	paths := make([]string, 0, len(rec.FieldOwners))
	for p := range rec.FieldOwners {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		a := rec.FieldOwners[p]
		switch {
		case a.Manager == "" || a.Manager == helmManager || tfkube.IsHelmManager(a.Manager):
			continue // Helm's: an install or upgrade
		case tfkube.IsController(a.Manager):
			continue // a controller's bookkeeping (status, revision annotations)
		case tfkube.RuleIgnores(c.ws.Ignore, obj, p, a.Manager):
			ignored = append(ignored, p)
			why = append(why, p+": "+tfkube.ReasonIgnoreRule)
			attrIgnored = append(attrIgnored, a)
		default:
			changed = append(changed, p)
			attrChanged = append(attrChanged, a)
		}
	}
	var out []Result
	if len(changed) > 0 {
		r := c.result(&tfjson.ResourceChange{Address: address}, obj, events.ClassChanged, act, changed, attrChanged, in.Now,
			fmt.Sprintf("an object of the Helm release %s was changed live by %s; the plan shows nothing because helm_release does not compare its objects with the cluster",
				rel, strings.Join(attrManagers(attrChanged), ", ")))
		r.Finding.ID = ReleaseObjectID(c.ws.Name, address, r.Finding.Object, events.ClassChanged)
		out = append(out, r)
	}
	if len(ignored) > 0 {
		r := c.result(&tfjson.ResourceChange{Address: address}, obj, events.ClassIgnored, act, ignored, attrIgnored, in.Now,
			"changes to an object of the Helm release only in fields the workspace ignores: "+strings.Join(capList(why, 6), "; "))
		r.Finding.ID = ReleaseObjectID(c.ws.Name, address, r.Finding.Object, events.ClassIgnored)
		out = append(out, r)
	}
	return out
}

// helmReleaseAnnotation is the field Helm writes on every object of a
// release at each install and upgrade.
var helmReleaseAnnotation = tfkube.Field(tfkube.Field("metadata", "annotations"), live.AnnHelmRelease)

func objectOfRef(o events.ObjectRef, resource string) tfkube.Object {
	if resource == "" {
		resource = tfkube.ResourceName(tfkube.GuessPlural(o.Kind), o.Group)
	}
	return tfkube.Object{Group: o.Group, Version: o.Version, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, UID: o.UID, Resource: resource}
}

func attrManagers(as []events.Attribution) []string {
	var out []string
	for _, a := range dedupeAttribution(as) {
		out = append(out, a.Manager)
	}
	return out
}

// topLevelDiff names the top-level attributes of a helm_release that
// differ (names only: values may be sensitive, set_sensitive). Refresh
// noise is not a difference: the provider reads an unset set.type back as
// "" where state has null, and set blocks come in any order.
func topLevelDiff(before, after any) []string {
	b, a := asMap(before), asMap(after)
	var out []string
	for k, av := range a {
		if canonical(b[k]) != canonical(av) {
			out = append(out, k)
		}
	}
	for k, bv := range b {
		if _, ok := a[k]; !ok && canonical(bv) != "" {
			out = append(out, k)
		}
	}
	return uniqueSorted(out)
}

// canonical renders v with null, "" and empty collections left out and
// lists of blocks (sets) sorted; "" for nothing at all.
func canonical(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		if v == "" {
			return ""
		}
		b, _ := json.Marshal(v)
		return string(b)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k, x := range v {
			if canonical(x) != "" {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return ""
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k) + ":" + canonical(v[k]))
		}
		return b.String() + "}"
	case []any:
		if len(v) == 0 {
			return ""
		}
		parts := make([]string, len(v))
		blocks := false
		for i, x := range v {
			parts[i] = canonical(x)
			_, isMap := x.(map[string]any)
			blocks = blocks || isMap
		}
		if blocks {
			sort.Strings(parts)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}
