package classify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// Recommended actions.
const (
	ActionImport           = "import"
	ActionRevert           = "revert"
	ActionRecreate         = "recreate"
	ActionAdoptOrIgnore    = "adopt-or-ignore"
	ActionApply            = "apply"
	ActionNone             = "none"
	ActionResolveOwnership = "resolve-ownership"
)

// RecommendedAction is the default action for a class.
func RecommendedAction(class string) string {
	switch class {
	case events.ClassUnimported:
		return ActionImport
	case events.ClassChanged:
		return ActionRevert
	case events.ClassDeleted:
		return ActionRecreate
	case events.ClassUnmanaged:
		return ActionAdoptOrIgnore
	case events.ClassPendingConfig:
		return ActionApply
	case events.ClassChurn:
		return ActionResolveOwnership
	}
	return ActionNone
}

// Workspace is what classification needs to know about a workspace.
type Workspace struct {
	Name    string
	Cluster string
	// HighRiskKinds as the config names them (statefulsets.apps,
	// persistentvolumeclaims, clusters.postgresql.cnpg.io or a Kind).
	HighRiskKinds []string
	Ignore        []config.IgnoreRule
	// Catalog is the resource types of the workspace's providers (read
	// from their schema once per init): a finding of a Kubernetes
	// provider's type that maps to no object says so instead of guessing.
	// Empty: every type is taken as this package knows it.
	Catalog tfkube.Catalog
}

// Live tells whether an object exists in the cluster and who owns its
// fields: the inventory the watcher keeps, or the cluster itself.
type Live interface {
	// Get returns the object's record; ok is false when it does not exist.
	Get(ctx context.Context, o events.ObjectRef) (rec *events.InventoryRecord, ok bool, err error)
}

// ObjectReader is implemented by a Live that can read whole objects (the
// gate reads the cluster). With it, the drifted fields of a kubectl_manifest
// (whose state holds only a fingerprint of them) are found exactly.
type ObjectReader interface {
	Object(ctx context.Context, o events.ObjectRef) (obj map[string]any, ok bool, err error)
}

// Input is one plan to classify.
type Input struct {
	Plan *tfjson.Plan
	// Observed are the recent field changes the watcher reported, per object
	// (key tfkube.RefKey), oldest first: they attribute changed paths and
	// name the drifted fields of kubectl_manifest resources.
	Observed map[string][]events.PathOwner
	// Releases are the helm_release instances the plan covers, and Gone
	// the objects of releases seen deleted (helm.go). A release's objects
	// are classified even when the plan (nil without changes) omits it.
	Releases []Release
	Gone     []GoneObject
	Now      time.Time
	// Catalog, when not empty, is the schema of the providers this plan
	// ran with (plan.Result.Catalog): it replaces Workspace.Catalog, which
	// a long-lived classifier cannot know before the first init.
	Catalog tfkube.Catalog
}

// Result is one finding with its redacted excerpt and why it got its class.
type Result struct {
	Finding events.Finding
	Excerpt events.Excerpt
	Reason  string
	// Planned is the planned action on the address: create, update, delete,
	// replace or none.
	Planned string
	// Conflict is set on a changed finding whose fields another manager
	// took from a resource that writes with server-side apply: apply fails
	// on the field-manager conflict (the finding recommends
	// resolve-ownership, not revert).
	Conflict bool
}

// Classifier classifies plans of one workspace.
type Classifier struct {
	ws   Workspace
	live Live
}

// New returns a classifier for ws that asks live whether objects exist.
func New(ws Workspace, live Live) *Classifier {
	return &Classifier{ws: ws, live: live}
}

// Classify returns the findings of a plan, ordered by address and class.
// Unmanaged and churn findings come from Unmanaged and ChurnRecord.
func (c *Classifier) Classify(ctx context.Context, in Input) ([]Result, error) {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	if in.Plan == nil {
		return c.unplannedReleases(ctx, in, nil) // helm.go
	}
	drift := map[string]*tfjson.ResourceChange{}
	for _, d := range in.Plan.ResourceDrift {
		if d == nil || d.Change == nil || d.Mode != tfjson.ManagedResourceMode || d.DeposedKey != "" {
			continue
		}
		drift[d.Address] = d
	}
	var out []Result
	seen := map[string]bool{}
	for _, rc := range in.Plan.ResourceChanges {
		if rc == nil || rc.Change == nil || rc.Mode != tfjson.ManagedResourceMode || rc.DeposedKey != "" {
			continue
		}
		seen[rc.Address] = true
		rs, err := c.address(ctx, in, rc, drift[rc.Address])
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	for addr, d := range drift {
		if seen[addr] {
			continue
		}
		rs, err := c.address(ctx, in, nil, d)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		seen[addr] = true
	}
	rs, err := c.unplannedReleases(ctx, in, seen) // helm.go
	if err != nil {
		return nil, err
	}
	out = append(out, rs...)
	shared := sharedManagers(in.Plan)
	catalog := c.ws.Catalog
	if in.Catalog.Len() > 0 {
		catalog = in.Catalog
	}
	for i := range out {
		if err := catalog.Check(typeOf(in.Plan, out[i].Finding.Address)); err != nil {
			out[i].Reason += " (" + err.Error() + ": no object, no import ID)"
		}
		if others := shared[out[i].Finding.Address]; len(others) > 0 {
			out[i].Reason += fmt.Sprintf("; it shares its field manager with %s on the same object: each apply removes "+
				"the fields the others applied (a perpetual diff); give each its own field_manager", strings.Join(others, ", "))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Finding.Address != out[j].Finding.Address {
			return out[i].Finding.Address < out[j].Finding.Address
		}
		return out[i].Finding.Class < out[j].Finding.Class
	})
	return out, nil
}

// sharedManagers maps each patch-style resource of the plan to the other
// patch-style resources that apply to the same object with the same field
// manager: server-side apply by one manager replaces the whole set of
// fields it owns, so they undo each other on every apply.
func sharedManagers(p *tfjson.Plan) map[string][]string {
	groups := map[string][]string{}
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil || !tfkube.IsPatch(rc.Type) {
			continue
		}
		vals := asMap(rc.Change.Before)
		if vals == nil {
			vals = asMap(rc.Change.After)
		}
		obj, err := tfkube.ObjectOf(rc.Type, vals)
		if err != nil {
			continue
		}
		k := obj.Key() + "\x00" + tfkube.FieldManager(rc.Type, vals)
		groups[k] = append(groups[k], rc.Address)
	}
	out := map[string][]string{}
	for _, addrs := range groups {
		if len(addrs) < 2 {
			continue
		}
		for _, a := range addrs {
			for _, b := range addrs {
				if a != b {
					out[a] = append(out[a], b)
				}
			}
			sort.Strings(out[a])
		}
	}
	return out
}

// typeOf is the resource type of address in the plan.
func typeOf(p *tfjson.Plan, address string) string {
	for _, l := range [][]*tfjson.ResourceChange{p.ResourceChanges, p.ResourceDrift} {
		for _, rc := range l {
			if rc != nil && rc.Address == address {
				return rc.Type
			}
		}
	}
	return ""
}

// planned names a change's action.
func planned(rc *tfjson.ResourceChange) string {
	if rc == nil || rc.Change == nil {
		return "none"
	}
	a := rc.Change.Actions
	switch {
	case a.Replace():
		return "replace"
	case a.Create():
		return "create"
	case a.Delete():
		return "delete"
	case a.Update():
		return "update"
	}
	return "none"
}

// address classifies one resource address: its planned change rc (nil when
// the plan has none) and its drift d (nil when none).
func (c *Classifier) address(ctx context.Context, in Input, rc, d *tfjson.ResourceChange) ([]Result, error) {
	ref := rc
	if ref == nil {
		ref = d
	}
	if External(ref.Type) { // not a Kubernetes object: external.go
		return c.external(in, rc, d), nil
	}
	act := planned(rc)
	if ref.Type == tfkube.TypeHelmRelease { // helm.go
		return c.helmRelease(ctx, in, rc, d, act)
	}
	if d != nil && d.Change.Actions.Delete() {
		// In state, gone live. The plan creates it again; that create is
		// the consequence of the deletion, not a second finding.
		obj, _ := tfkube.ObjectOf(d.Type, asMap(d.Change.Before))
		return []Result{c.result(ref, obj, events.ClassDeleted, act, nil, nil, in.Now,
			"the object is in state but no longer exists in the cluster")}, nil
	}
	switch act {
	case "create":
		return c.create(ctx, in, rc)
	case "delete":
		obj, _ := tfkube.ObjectOf(rc.Type, asMap(rc.Change.Before))
		return []Result{c.result(rc, obj, events.ClassPendingConfig, act, nil, nil, in.Now,
			"removed from the configuration: apply would delete the object")}, nil
	}
	return c.update(ctx, in, rc, d, act)
}

func (c *Classifier) create(ctx context.Context, in Input, rc *tfjson.ResourceChange) ([]Result, error) {
	after := asMap(rc.Change.After)
	obj, err := tfkube.ObjectOf(rc.Type, after)
	if tfkube.IsPatch(rc.Type) {
		// It patches an object someone else created: the object existing
		// is the expected case, never "unimported".
		return []Result{c.result(rc, obj, events.ClassPendingConfig, "create", nil, nil, in.Now,
			"in the configuration, not in state: apply would add its fields to an object it does not own")}, nil
	}
	if err != nil {
		return []Result{c.result(rc, obj, events.ClassPendingConfig, "create", nil, nil, in.Now,
			"in the configuration, not in state: apply would create it")}, nil
	}
	rec, exists, err := c.live.Get(ctx, obj.Ref(c.ws.Cluster))
	if err != nil {
		return nil, fmt.Errorf("classify %s: look up %s: %w", rc.Address, obj.Ref(c.ws.Cluster), err)
	}
	if !exists {
		return []Result{c.result(rc, obj, events.ClassPendingConfig, "create", nil, nil, in.Now,
			"in the configuration, not in state and not in the cluster: apply would create it")}, nil
	}
	if k, ok := tfkube.TypedKind(rc.Type); ok && !k.Importable {
		return []Result{c.result(rc, obj, events.ClassPendingConfig, "create", nil, nil, in.Now,
			"exists in the cluster; this resource type adopts it on apply")}, nil
	}
	obj.UID = rec.Object.UID
	if rec.Resource != "" {
		obj.Resource = rec.Resource
	}
	if rec.Object.Name != "" && rec.Object.Namespace == "" && obj.Namespace != "" {
		// Discovery (the live reader's RESTMapper) says the kind is
		// cluster-scoped, whatever the configuration or the rule said.
		obj.Namespace, obj.ClusterScoped = "", true
	}
	r := c.result(rc, obj, events.ClassUnimported, "create", nil, managers(rec.Managers), in.Now,
		"apply would create an object that already exists in the cluster")
	r.Finding.ImportID, _ = tfkube.ImportID(rc.Type, obj)
	return []Result{r}, nil
}

// change is one differing attribute of a resource.
type change struct {
	path  tfkube.Path
	attr  tfkube.Attr
	field string // Kubernetes field path ("" when unknown)
}

// attrChanges lists the attributes that differ between before and after
// and those unknown until apply, as the importer's verifier reads them
// (tfkube.AttrChanges).
func attrChanges(tfType string, before, after, afterUnknown any) []change {
	var out []change
	for _, ch := range tfkube.AttrChanges(tfType, before, after, afterUnknown) {
		out = append(out, change{path: ch.Path, attr: ch.Attr, field: ch.Attr.Field})
	}
	return out
}

func (c *Classifier) update(ctx context.Context, in Input, rc, d *tfjson.ResourceChange, act string) ([]Result, error) {
	tfType := ""
	var objVals map[string]any
	switch {
	case d != nil:
		tfType, objVals = d.Type, asMap(d.Change.After)
	case rc != nil:
		tfType, objVals = rc.Type, asMap(rc.Change.Before)
	}
	obj, _ := tfkube.ObjectOf(tfType, objVals)
	ref := obj.Ref(c.ws.Cluster)
	var rec *events.InventoryRecord
	if obj.Name != "" && (d != nil || act != "none") {
		r, ok, err := c.live.Get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("classify %s: look up %s: %w", addressOf(rc, d), ref, err)
		}
		if ok {
			rec = r
			obj.UID = r.Object.UID
		}
	}
	observed := in.Observed[tfkube.RefKey(ref)]

	// What the plan would change, by attribute path.
	var plannedChanges []change
	plannedAt := map[string]bool{}
	plannedLive := false
	if rc != nil && act != "none" {
		plannedChanges = attrChanges(rc.Type, rc.Change.Before, rc.Change.After, rc.Change.AfterUnknown)
		for _, ch := range plannedChanges {
			plannedAt[ch.path.String()] = true
			if ch.attr.Kind == tfkube.AttrLive {
				plannedLive = true
			}
		}
	}

	var out []Result
	driftAt := map[string]bool{}
	if d != nil {
		var fields []driftField
		for _, ch := range attrChanges(d.Type, d.Change.Before, d.Change.After, nil) {
			driftAt[ch.path.String()] = true
			switch ch.attr.Kind {
			case tfkube.AttrField:
				reverted := plannedAt[ch.path.String()] || fieldPlanned(plannedChanges, ch.field)
				before, _ := tfkube.ValueAt(d.Change.Before, ch.path)
				fields = append(fields, driftField{field: ch.field, path: ch.path, reverted: reverted,
					set: reverted && !tfkube.Equal(before, nil)})
			case tfkube.AttrLive:
				for _, f := range c.liveDriftFields(ctx, d, ref, observed) {
					// Only fields of yaml_body: all set by the configuration.
					r := plannedLive || act != "none"
					fields = append(fields, driftField{field: f.field, value: f, reverted: r, set: r})
				}
			}
		}
		if len(fields) > 0 {
			manager := tfkube.FieldManager(d.Type, asMap(d.Change.Before))
			out = append(out, c.drifted(rc, d, obj, rec, observed, fields, act, manager, in.Now)...)
		}
	}

	// Planned changes with no drift behind them: configuration not applied.
	var pending []string
	excerpt := events.Excerpt{}
	for _, ch := range plannedChanges {
		if driftAt[ch.path.String()] || ch.attr.Kind == tfkube.AttrLive {
			continue
		}
		if ch.attr.Kind == tfkube.AttrConfig && ch.field == "" {
			fs := manifestConfigFields(rc)
			pending = append(pending, fs...)
			if len(fs) == 0 {
				pending = append(pending, "(manifest)")
			}
			continue
		}
		if ch.field == "" {
			continue
		}
		if driftFieldAt(d, ch.field) {
			continue
		}
		pending = append(pending, ch.field)
		addExcerpt(&excerpt, ch.field, ch.path, rc.Change, obj)
	}
	if len(pending) > 0 {
		r := c.result(rc, obj, events.ClassPendingConfig, act, outermost(pending), nil, in.Now,
			"the configuration changed and was not applied")
		r.Excerpt = excerpt
		out = append(out, r)
	}
	return out, nil
}

// fieldPlanned reports whether a planned change touches field f.
func fieldPlanned(cs []change, f string) bool {
	for _, c := range cs {
		if c.field != "" && f != "" && tfkube.FieldMatches(c.field, f) {
			return true
		}
	}
	return false
}

// driftFieldAt reports whether drift d touches field f (so a planned change
// of f reverts drift rather than applying new configuration).
func driftFieldAt(d *tfjson.ResourceChange, f string) bool {
	if d == nil {
		return false
	}
	for _, ch := range attrChanges(d.Type, d.Change.Before, d.Change.After, nil) {
		if ch.field != "" && tfkube.FieldMatches(ch.field, f) {
			return true
		}
	}
	return false
}

type driftField struct {
	field    string
	path     tfkube.Path // attribute path in the plan values ("" for manifest fields)
	value    liveField   // values for manifest fields
	reverted bool        // apply would set it back
	// set: the configuration sets the field (state had a value and apply
	// sets it back); a controller taking it over does not make it ignored.
	set bool
}

// outermost drops the paths that lie under another path of the list
// (env[name=X] and env[name=X].value -> env[name=X]).
func outermost(paths []string) []string {
	var out []string
	for i, p := range paths {
		under := false
		for j, q := range paths {
			if i != j && q != p && tfkube.FieldUnder(p, q) {
				under = true
				break
			}
		}
		if !under {
			out = append(out, p)
		}
	}
	return out
}

// drifted builds the changed finding of an address and, for the drifted
// fields that are ignored, its ignored finding. manager is the field
// manager the resource applies with.
func (c *Classifier) drifted(rc, d *tfjson.ResourceChange, obj tfkube.Object, rec *events.InventoryRecord,
	observed []events.PathOwner, fields []driftField, act, manager string, now time.Time) []Result {
	var changed, ignored []string
	var why []string
	var attr []events.Attribution
	var conflicts []string
	excerpt := events.Excerpt{}
	for _, f := range fields {
		owner := ownerOf(f.field, observed, rec)
		reason := "not set by the configuration"
		if f.reverted {
			reason = tfkube.IgnoreReason(c.ws.Ignore, obj, f.field, owner.Manager, f.set)
		}
		if reason != "" {
			ignored = append(ignored, f.field)
			why = append(why, f.field+": "+reason)
			continue
		}
		changed = append(changed, f.field)
		if owner.Manager != "" {
			attr = append(attr, owner)
			if f.set && tfkube.ServerSideApply(d.Type, asMap(d.Change.Before)) && !strings.EqualFold(owner.Manager, manager) {
				conflicts = append(conflicts, fmt.Sprintf("%s now owned by %s", f.field, owner.Manager))
			}
		}
		if f.path != nil {
			addExcerpt(&excerpt, f.field, f.path, d.Change, obj)
		} else if f.value.field != "" {
			addLiveExcerpt(&excerpt, f.value, obj)
		}
	}
	src := rc
	if src == nil {
		src = d
	}
	var out []Result
	if len(ignored) > 0 {
		var attrIgnored []events.Attribution
		for _, f := range ignored {
			if o := ownerOf(f, observed, rec); o.Manager != "" {
				attrIgnored = append(attrIgnored, o)
			}
		}
		out = append(out, c.result(src, obj, events.ClassIgnored, act, ignored, attrIgnored, now,
			"drift only in fields the workspace does not own: "+strings.Join(capList(why, 6), "; ")))
	}
	if len(changed) == 0 {
		return out
	}
	reason := "the cluster differs from state on fields the configuration sets"
	if len(ignored) > 0 {
		reason += " (ignored: " + strings.Join(capList(why, 4), "; ") + ")"
	}
	if len(conflicts) > 0 {
		reason += "; " + strings.Join(capList(conflicts, 4), ", ") + ": apply (field manager " + manager +
			", server-side apply without force) will fail on a field-manager conflict; decide who owns the field"
	}
	r := c.result(src, obj, events.ClassChanged, act, changed, attr, now, reason)
	r.Excerpt = excerpt
	if len(conflicts) > 0 {
		r.Conflict = true
		r.Finding.RecommendedAction = ActionResolveOwnership
	}
	return append(out, r)
}

// result assembles a finding.
func (c *Classifier) result(rc *tfjson.ResourceChange, obj tfkube.Object, class, act string, paths []string,
	attr []events.Attribution, now time.Time, reason string) Result {
	addr := addressOf(rc, nil)
	f := events.Finding{
		ID:                events.FindingID(c.ws.Name, addr, class),
		Workspace:         c.ws.Name,
		Address:           addr,
		Class:             class,
		Risk:              c.risk(obj, act),
		Paths:             uniqueSorted(paths),
		Attribution:       dedupeAttribution(attr),
		RecommendedAction: RecommendedAction(class),
		FirstSeen:         now.UTC(),
		LastSeen:          now.UTC(),
		State:             events.StateOpen,
	}
	if obj.Name != "" {
		f.Object = obj.Ref(c.ws.Cluster)
	} else {
		f.Object = events.ObjectRef{Cluster: c.ws.Cluster}
	}
	return Result{Finding: f, Reason: reason, Planned: act}
}

// risk is high for replace and delete actions, Secrets, stateful kinds and
// the workspace's high-risk kinds.
func (c *Classifier) risk(obj tfkube.Object, act string) string {
	if act == "replace" || act == "delete" {
		return events.RiskHigh
	}
	return KindRisk(obj, c.ws.HighRiskKinds)
}

// KindRisk is the risk of touching an object of obj's kind: high for
// Secrets, stateful kinds (StatefulSets, PVCs, PVs, CNPG Clusters) and the
// configured high-risk kinds.
func KindRisk(obj tfkube.Object, highRisk []string) string {
	if obj.Kind == "" {
		return events.RiskLow
	}
	if tfkube.SecretKind(obj) || tfkube.Stateful(obj.Group, obj.Kind) {
		return events.RiskHigh
	}
	res := ""
	if i := strings.IndexByte(obj.Resource, '.'); i > 0 {
		res = obj.Resource[:i]
	} else {
		res = obj.Resource
	}
	for _, k := range highRisk {
		if tfkube.KindMatches(k, obj.Group, obj.Kind, res) {
			return events.RiskHigh
		}
	}
	return events.RiskLow
}

// ownerOf attributes a field: the watcher's latest observation of a change
// at or below it, else the inventory's owner of it (tfkube.OwnerOf).
func ownerOf(field string, observed []events.PathOwner, rec *events.InventoryRecord) events.Attribution {
	for i := len(observed) - 1; i >= 0; i-- {
		o := observed[i]
		if o.Manager != "" && field != "" && tfkube.FieldMatches(o.Path, field) {
			return o.Attribution
		}
	}
	if rec == nil {
		return events.Attribution{}
	}
	return tfkube.OwnerOf(field, rec.FieldOwners)
}

func managers(ms []events.PathOwner) []events.Attribution {
	out := make([]events.Attribution, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Attribution)
	}
	return out
}

func dedupeAttribution(in []events.Attribution) []events.Attribution {
	out := []events.Attribution{}
	seen := map[string]int{}
	for _, a := range in {
		if a.Manager == "" {
			continue
		}
		k := a.Manager + "\x00" + a.Operation
		if i, ok := seen[k]; ok {
			if a.Time != nil && (out[i].Time == nil || a.Time.After(*out[i].Time)) {
				out[i].Time = a.Time
			}
			continue
		}
		seen[k] = len(out)
		out = append(out, a)
	}
	return out
}

func uniqueSorted(in []string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, s := range in {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("+%d more", len(s)-n))
}

func addressOf(rc, d *tfjson.ResourceChange) string {
	if rc != nil {
		return rc.Address
	}
	if d != nil {
		return d.Address
	}
	return ""
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
