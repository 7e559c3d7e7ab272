package events

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event types. The version suffix changes only when a data type changes
// incompatibly; consumers dead-letter types they do not know.
const (
	TypeObjectChanged    = "dev.driftgate.object.changed.v1"
	TypeClusterHealth    = "dev.driftgate.cluster.health.v1"
	TypePlanCompleted    = "dev.driftgate.plan.completed.v1"
	TypeDriftDetected    = "dev.driftgate.drift.detected.v1"
	TypeDriftResolved    = "dev.driftgate.drift.resolved.v1"
	TypeImportRequested  = "dev.driftgate.import.requested.v1"
	TypeImportApproved   = "dev.driftgate.import.approved.v1"
	TypeImportRejected   = "dev.driftgate.import.rejected.v1"
	TypeImportStarted    = "dev.driftgate.import.started.v1"
	TypeImportSucceeded  = "dev.driftgate.import.succeeded.v1"
	TypeImportFailed     = "dev.driftgate.import.failed.v1"
	TypeImportRolledBack = "dev.driftgate.import.rolledback.v1"
	TypeAlertDelivered   = "dev.driftgate.alert.delivered.v1"
	TypeAlertFailed      = "dev.driftgate.alert.failed.v1"
	TypeSourceUpdated    = "dev.driftgate.source.updated.v1"
)

// Data is implemented by every event payload. Subject returns the CloudEvents
// subject (a '/'-separated path naming the object or workspace), Key the
// deterministic event id when the fact has one ("" lets New pick a random id).
type Data interface {
	EventType() string
	Subject() string
	Key() string
	Workspace() string
	Validate() error
	Summary() string
}

// ObjectRef names one live Kubernetes object. Its JSON form is part of the
// finding contract in DESIGN.md: exactly these fields.
type ObjectRef struct {
	Cluster   string `json:"cluster"`
	Group     string `json:"group"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

// Path is the object's CloudEvents subject: cluster/group/Kind/namespace/name,
// with "core" for the empty group and "-" for cluster-scoped objects.
func (o ObjectRef) Path() string {
	g, ns := o.Group, o.Namespace
	if g == "" {
		g = "core"
	}
	if ns == "" {
		ns = "-"
	}
	return strings.Join([]string{o.Cluster, g, o.Kind, ns, o.Name}, "/")
}

// String is the kubectl-style name: Kind.group/namespace/name; "-" for no
// object (a finding of a resource outside the cluster).
func (o ObjectRef) String() string {
	if o.Kind == "" && o.Name == "" {
		return "-"
	}
	k := o.Kind
	if o.Group != "" {
		k += "." + o.Group
	}
	if o.Namespace == "" {
		return k + "/" + o.Name
	}
	return k + "/" + o.Namespace + "/" + o.Name
}

func (o ObjectRef) validate() error {
	switch {
	case o.Cluster == "":
		return errors.New("object.cluster is empty")
	case o.Kind == "":
		return errors.New("object.kind is empty")
	case o.Version == "":
		return errors.New("object.version is empty")
	case o.Name == "":
		return errors.New("object.name is empty")
	case badSegment(o.Name):
		return fmt.Errorf("object.name %q is not a Kubernetes object name", o.Name)
	case o.Namespace != "" && badSegment(o.Namespace):
		return fmt.Errorf("object.namespace %q is not a Kubernetes namespace", o.Namespace)
	}
	return nil
}

// badSegment reports a name no Kubernetes object can have: every name and
// namespace is a path segment of the object's API URL, so never "." or
// "..", never '/' or '%', and no kind allows control characters.
func badSegment(s string) bool {
	if s == "." || s == ".." {
		return true
	}
	for _, r := range s {
		if r == '/' || r == '%' || r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// Attribution says which field manager last wrote something, how and when
// (from metadata.managedFields). Its JSON form is part of the finding contract.
type Attribution struct {
	Manager   string     `json:"manager"`
	Operation string     `json:"operation"`
	Time      *time.Time `json:"time,omitempty"`
}

// PathOwner attributes one changed field path to the manager that owns it now.
type PathOwner struct {
	Path string `json:"path"`
	Attribution
}

// OwnerHints are the signs of who created or manages an object beyond its
// field managers.
type OwnerHints struct {
	Helm            *HelmRelease     `json:"helm,omitempty"`
	ArgoCD          string           `json:"argocd,omitempty"` // Argo CD app from its tracking label or annotation
	OwnerReferences []OwnerReference `json:"owner_references,omitempty"`
}

// HelmRelease is read from the app.kubernetes.io/managed-by label and the
// meta.helm.sh/release-* annotations.
type HelmRelease struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace,omitempty"`
	// Record is true for Helm's own record of the release (the
	// sh.helm.release.v1.<release>.v<N> Secret or ConfigMap, labels
	// owner=helm and name=<release>): it belongs to the release but is
	// Helm's bookkeeping, never drift.
	Record bool `json:"record,omitempty"`
}

// OwnerReference is metadata.ownerReferences[i], trimmed.
type OwnerReference struct {
	APIVersion string `json:"api_version"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller bool   `json:"controller,omitempty"`
}

// Change kinds of ObjectChanged.
const (
	ChangeAdded   = "added"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// ObjectChanged is published by the watcher for every relevant change of a
// watched live object. Secret values never appear: Paths name Secret keys,
// never their data.
type ObjectChanged struct {
	Object          ObjectRef   `json:"object"`
	Resource        string      `json:"resource"` // plural, kubectl style: deployments.apps
	Change          string      `json:"change"`
	ResourceVersion string      `json:"resource_version"`
	Generation      int64       `json:"generation,omitempty"`
	Paths           []string    `json:"paths,omitempty"`
	Attribution     []PathOwner `json:"attribution,omitempty"`
	Managers        []PathOwner `json:"managers,omitempty"` // every field manager of the object, Path empty
	Owners          OwnerHints  `json:"owners,omitzero"`
	Relist          bool        `json:"relist,omitempty"` // seen by a relist after a restart or outage
	ObservedAt      time.Time   `json:"observed_at"`
}

func (*ObjectChanged) EventType() string { return TypeObjectChanged }
func (d *ObjectChanged) Subject() string { return d.Object.Path() }
func (*ObjectChanged) Workspace() string { return "" }

// Key is cluster + uid + resourceVersion + change: the same change seen
// twice (replay, two watchers during a leader hand-over) is one fact; the
// same uid and resourceVersion in two clusters (two clusters[] entries for
// one API server, or a restored etcd) are two.
func (d *ObjectChanged) Key() string {
	return "oc-" + d.Object.Cluster + "-" + d.Object.UID + "-" + d.ResourceVersion + "-" + d.Change
}

func (d *ObjectChanged) Validate() error {
	if err := d.Object.validate(); err != nil {
		return err
	}
	switch {
	case d.Object.UID == "":
		return errors.New("object.uid is empty")
	case d.ResourceVersion == "":
		return errors.New("resource_version is empty")
	case d.Change != ChangeAdded && d.Change != ChangeUpdated && d.Change != ChangeDeleted:
		return fmt.Errorf("change %q is not added, updated or deleted", d.Change)
	}
	return nil
}

func (d *ObjectChanged) Summary() string {
	s := d.Change + " " + d.Object.String()
	if len(d.Paths) > 0 {
		s += " " + strings.Join(capList(d.Paths, 4), ",")
	}
	if len(d.Attribution) > 0 {
		s += " by " + d.Attribution[0].Manager
	}
	return s
}

// Health components and severities.
const (
	ComponentAPIServer = "apiserver"
	ComponentNode      = "node"
	ComponentWatcher   = "watcher"
	ComponentPlanner   = "planner"
	ComponentImporter  = "importer"
	// ComponentSource reports a workspace's Git source: FetchFailed.
	ComponentSource = "source"

	// ConditionSynced, of component watcher: True once a watcher has listed
	// every watched resource at the start of its term (start, new leader,
	// API server back) and reported what differs from its inventory. The
	// planner asks for a full plan of the cluster's workspaces then.
	ConditionSynced = "Synced"

	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// ClusterHealth reports the health of a cluster's control plane, its nodes,
// or of a driftgate component working on it (informer sync, a planner that
// cannot init a workspace, a full disk).
type ClusterHealth struct {
	Cluster   string `json:"cluster"`
	Component string `json:"component"`
	// Condition names what is reported: Unreachable, DiskPressure, Ready,
	// Synced, InitFailed, LockHeld, DiskLow ...
	Condition string `json:"condition"`
	// Status is "True" when the condition holds (e.g. Unreachable=True),
	// "False" when it cleared, "Unknown" when it cannot be told.
	Status     string    `json:"status"`
	Severity   string    `json:"severity"`
	Node       string    `json:"node,omitempty"`
	WS         string    `json:"workspace,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
	Since      time.Time `json:"since"`
	Duration   string    `json:"duration,omitempty"` // outage length on recovery
	ObservedAt time.Time `json:"observed_at"`
}

func (*ClusterHealth) EventType() string { return TypeClusterHealth }
func (d *ClusterHealth) Subject() string {
	parts := []string{d.Cluster, d.Component}
	if d.Node != "" {
		parts = append(parts, d.Node)
	}
	if d.WS != "" {
		parts = append(parts, d.WS)
	}
	return strings.Join(parts, "/")
}
func (d *ClusterHealth) Workspace() string { return d.WS }

// Key makes a transition one fact: component, node, condition, status, since.
func (d *ClusterHealth) Key() string {
	return fmt.Sprintf("ch-%s-%s-%s-%s-%s-%s-%d", d.Cluster, d.Component, d.Node, d.WS, d.Condition, d.Status, d.Since.UnixNano())
}

func (d *ClusterHealth) Validate() error {
	switch {
	case d.Cluster == "":
		return errors.New("cluster is empty")
	case d.Component == "":
		return errors.New("component is empty")
	case d.Condition == "":
		return errors.New("condition is empty")
	case d.Status != "True" && d.Status != "False" && d.Status != "Unknown":
		return fmt.Errorf("status %q is not True, False or Unknown", d.Status)
	}
	return validSeverity(d.Severity)
}

func (d *ClusterHealth) Summary() string {
	s := fmt.Sprintf("%s %s %s=%s", d.Severity, d.Component, d.Condition, d.Status)
	if d.Node != "" {
		s += " node " + d.Node
	}
	if d.WS != "" {
		s += " workspace " + d.WS
	}
	if d.Duration != "" {
		s += " after " + d.Duration
	}
	if d.Message != "" {
		s += ": " + d.Message
	}
	return s
}

// PlanCompleted is published by the planner after every plan.
type PlanCompleted struct {
	WS      string   `json:"workspace"`
	PlanID  string   `json:"plan_id"`
	Trigger string   `json:"trigger"` // change | interval | startup | gate
	Full    bool     `json:"full"`
	Targets []string `json:"targets,omitempty"`
	// ScopedState: the targeted plan ran on a local copy of the state cut
	// down to its targets and what they depend on, not on the backend's.
	ScopedState bool           `json:"scoped_state,omitempty"`
	Changes     int            `json:"changes"` // object.changed events coalesced into this plan
	Counts      map[string]int `json:"counts"`  // findings per class
	Tool        string         `json:"tool"`
	ToolVersion string         `json:"tool_version,omitempty"`
	StateSerial int64          `json:"state_serial"`
	// Revision is the configuration's commit the plan ran on (a workspace
	// whose source is Git); empty for a local dir.
	Revision string `json:"revision,omitempty"`
	// PendingConfig is the digest of the open pending-config findings by
	// the revision that introduced them: configuration merged but not
	// applied yet, apart from drift.
	PendingConfig []PendingConfig `json:"pending_config,omitempty"`
	DurationMS    int64           `json:"duration_ms"`
	Error         string          `json:"error,omitempty"`
	StartedAt     time.Time       `json:"started_at"`
	// PhasesMS is where the time went, in milliseconds per phase (the
	// planner's names: wait, index, prepare, plan, show, classify,
	// findings, …); optional.
	PhasesMS map[string]int64 `json:"phases_ms,omitempty"`
}

// PendingConfig counts the pending-config findings one revision introduced.
type PendingConfig struct {
	Revision string `json:"revision"`
	Count    int    `json:"count"`
}

// String is "N changes merged at <sha> not applied yet".
func (p PendingConfig) String() string {
	r := p.Revision
	if len(r) > 12 {
		r = r[:12]
	}
	noun := "changes"
	if p.Count == 1 {
		noun = "change"
	}
	return fmt.Sprintf("%d %s merged at %s not applied yet", p.Count, noun, r)
}

func (*PlanCompleted) EventType() string   { return TypePlanCompleted }
func (d *PlanCompleted) Subject() string   { return d.WS }
func (d *PlanCompleted) Workspace() string { return d.WS }
func (d *PlanCompleted) Key() string       { return "pc-" + d.PlanID }

func (d *PlanCompleted) Validate() error {
	switch {
	case d.WS == "":
		return errors.New("workspace is empty")
	case d.PlanID == "":
		return errors.New("plan_id is empty")
	}
	return nil
}

func (d *PlanCompleted) Summary() string {
	scope := "targeted"
	if d.Full {
		scope = "full"
	}
	if d.Error != "" {
		return fmt.Sprintf("%s plan failed after %dms: %s", scope, d.DurationMS, d.Error)
	}
	s := fmt.Sprintf("%s plan (%s, %d targets) in %dms: %s", scope, d.Trigger, len(d.Targets), d.DurationMS, countsString(d.Counts))
	if d.Revision != "" {
		r := d.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		s += " at " + r
	}
	for _, p := range d.PendingConfig {
		s += "; " + p.String()
	}
	return s
}

// Drift classes (DESIGN.md).
const (
	ClassUnimported    = "unimported"
	ClassChanged       = "changed"
	ClassDeleted       = "deleted"
	ClassUnmanaged     = "unmanaged"
	ClassPendingConfig = "pending-config"
	ClassIgnored       = "ignored"
	ClassChurn         = "churn"
)

// Classes lists every drift class in the order reports show them.
var Classes = []string{ClassUnimported, ClassChanged, ClassDeleted, ClassChurn, ClassUnmanaged, ClassPendingConfig, ClassIgnored}

// Risks and finding states.
const (
	RiskLow  = "low"
	RiskHigh = "high"

	StateOpen     = "open"
	StateResolved = "resolved"
)

// Finding is one difference between state and cluster. Its JSON form is the
// contract of DESIGN.md ("findings -o json", "gate -o json", event data):
// exactly these fields.
type Finding struct {
	ID                string        `json:"id"`
	Workspace         string        `json:"workspace"`
	Address           string        `json:"address"`
	Object            ObjectRef     `json:"object"`
	Class             string        `json:"class"`
	Risk              string        `json:"risk"`
	Paths             []string      `json:"paths"`
	Attribution       []Attribution `json:"attribution"`
	ImportID          string        `json:"import_id"`
	RecommendedAction string        `json:"recommended_action"`
	FirstSeen         time.Time     `json:"first_seen"`
	LastSeen          time.Time     `json:"last_seen"`
	State             string        `json:"state"`
	// Revision is the configuration commit the finding was first judged
	// on (a workspace whose source is Git): for pending-config, the
	// revision that introduced the change. Empty for a local dir.
	Revision string `json:"revision,omitempty"`
	// AnnouncedSerial is the state serial of the plan that last announced
	// the finding with drift.detected. A plan at another serial announces
	// an open unimported finding again: the importer refuses a request made
	// at an older serial, and the finding itself, not one replica's memory,
	// knows which serial it was announced at.
	AnnouncedSerial int64 `json:"announced_serial,omitempty"`
}

// FindingID is the stable fingerprint of workspace + address + class.
func FindingID(workspace, address, class string) string {
	return "f-" + shortHash(workspace+"\x00"+address+"\x00"+class)
}

func (f *Finding) validate() error {
	switch {
	case f.ID == "":
		return errors.New("finding.id is empty")
	case f.Workspace == "":
		return errors.New("finding.workspace is empty")
	case f.Address == "" && f.Class != ClassUnmanaged:
		return errors.New("finding.address is empty")
	case !validClass(f.Class):
		return fmt.Errorf("finding.class %q is not a drift class", f.Class)
	case f.Risk != RiskLow && f.Risk != RiskHigh:
		return fmt.Errorf("finding.risk %q is not low or high", f.Risk)
	}
	return nil
}

// Excerpt is a redacted before/after view of the changed attributes.
type Excerpt struct {
	Before map[string]any `json:"before,omitempty"`
	After  map[string]any `json:"after,omitempty"`
}

// DriftDetected is published when a finding opens or materially changes.
type DriftDetected struct {
	Finding Finding `json:"finding"`
	Excerpt Excerpt `json:"excerpt,omitzero"`
	PlanID  string  `json:"plan_id"`
	Reason  string  `json:"reason,omitempty"` // why the class was chosen
	// StateSerial is the serial of the state the plan read: the importer
	// refuses to import an unimported finding once the state has moved
	// past it (other than by its own imports). 0 when unknown.
	StateSerial int64 `json:"state_serial,omitempty"`
	// Revision is the configuration commit the plan ran on: the importer
	// refuses an approved import once the workspace's revision moved on
	// ("stale: re-plan first"). Empty for a local dir.
	Revision string `json:"revision,omitempty"`
}

func (*DriftDetected) EventType() string   { return TypeDriftDetected }
func (d *DriftDetected) Subject() string   { return d.Finding.Workspace + "/" + d.Finding.Address }
func (d *DriftDetected) Workspace() string { return d.Finding.Workspace }
func (d *DriftDetected) Key() string       { return "dd-" + d.Finding.ID + "-" + d.PlanID }
func (d *DriftDetected) Validate() error {
	if d.PlanID == "" {
		return errors.New("plan_id is empty")
	}
	return d.Finding.validate()
}
func (d *DriftDetected) Summary() string {
	return fmt.Sprintf("%s %s risk=%s %s", d.Finding.Class, d.Finding.Address, d.Finding.Risk, strings.Join(capList(d.Finding.Paths, 4), ","))
}

// DriftResolved is published when a later plan no longer shows a finding.
type DriftResolved struct {
	Finding Finding `json:"finding"`
	PlanID  string  `json:"plan_id"`
	Reason  string  `json:"reason,omitempty"`
}

func (*DriftResolved) EventType() string   { return TypeDriftResolved }
func (d *DriftResolved) Subject() string   { return d.Finding.Workspace + "/" + d.Finding.Address }
func (d *DriftResolved) Workspace() string { return d.Finding.Workspace }
func (d *DriftResolved) Key() string       { return "dr-" + d.Finding.ID + "-" + d.PlanID }
func (d *DriftResolved) Validate() error {
	if d.PlanID == "" {
		return errors.New("plan_id is empty")
	}
	return d.Finding.validate()
}
func (d *DriftResolved) Summary() string {
	return fmt.Sprintf("resolved %s %s", d.Finding.Class, d.Finding.Address)
}

// Import is what every import.* event carries: the request, and for decisions
// and outcomes what happened to it. Stage-specific fields are empty elsewhere.
type Import struct {
	RequestID string    `json:"request_id"`
	WS        string    `json:"workspace"`
	FindingID string    `json:"finding_id"`
	Address   string    `json:"address"`
	ImportID  string    `json:"import_id"`
	Object    ObjectRef `json:"object"`
	Risk      string    `json:"risk"`
	Policy    string    `json:"policy,omitempty"` // manual | auto | auto-low-risk

	// StateSerial is the state serial the request was made against.
	StateSerial int64 `json:"state_serial"`
	// Revision is the configuration commit the finding was judged on
	// (empty for a local dir).
	Revision string `json:"revision,omitempty"`

	// Decisions (approved, rejected).
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`

	// Outcomes (started, succeeded, failed, rolledback).
	Attempt            int      `json:"attempt,omitempty"`
	Step               string   `json:"step,omitempty"` // where it failed: preflight, import, verify, untouched, ...
	StateVersionBefore string   `json:"state_version_before,omitempty"`
	StateVersionAfter  string   `json:"state_version_after,omitempty"`
	Diff               []string `json:"diff,omitempty"` // the plan lines that blocked it
	DurationMS         int64    `json:"duration_ms,omitempty"`

	At time.Time `json:"at"`
	// verb is set by the constructor; it is not part of the JSON.
	verb string
}

// Import verbs.
const (
	ImportRequested  = "requested"
	ImportApproved   = "approved"
	ImportRejected   = "rejected"
	ImportStarted    = "started"
	ImportSucceeded  = "succeeded"
	ImportFailed     = "failed"
	ImportRolledBack = "rolledback"
)

var importTypes = map[string]string{
	ImportRequested: TypeImportRequested, ImportApproved: TypeImportApproved, ImportRejected: TypeImportRejected,
	ImportStarted: TypeImportStarted, ImportSucceeded: TypeImportSucceeded, ImportFailed: TypeImportFailed,
	ImportRolledBack: TypeImportRolledBack,
}

// NewImport returns the import.<verb> event data for a copy of base.
func NewImport(verb string, base Import) *Import {
	base.verb = verb
	return &base
}

// Verb is requested, approved, ... as set by NewImport or decoding.
func (d *Import) Verb() string { return d.verb }

func (d *Import) EventType() string { return importTypes[d.verb] }
func (d *Import) Subject() string   { return d.WS + "/" + d.Address }
func (d *Import) Workspace() string { return d.WS }

// Key: one event per request, verb and attempt.
func (d *Import) Key() string {
	return fmt.Sprintf("im-%s-%s-%d", d.RequestID, d.verb, d.Attempt)
}

func (d *Import) Validate() error {
	switch {
	case importTypes[d.verb] == "":
		return fmt.Errorf("import verb %q is unknown", d.verb)
	case d.RequestID == "":
		return errors.New("request_id is empty")
	case d.WS == "":
		return errors.New("workspace is empty")
	case d.Address == "":
		return errors.New("address is empty")
	case (d.verb == ImportApproved || d.verb == ImportRejected) && d.By == "":
		return errors.New("by is empty: every decision names who made it")
	case d.verb == ImportRejected && d.Reason == "":
		return errors.New("reason is empty: a rejection needs a reason")
	}
	return nil
}

func (d *Import) Summary() string {
	s := fmt.Sprintf("import %s %s %s (%s)", d.verb, d.RequestID, d.Address, d.ImportID)
	if d.By != "" {
		s += " by " + d.By
	}
	if d.Step != "" {
		s += " at " + d.Step
	}
	if d.Reason != "" {
		s += ": " + d.Reason
	}
	return s
}

// SourceUpdated is published when a workspace starts using a new revision
// of its configuration: the commit was fetched and checked out whole.
type SourceUpdated struct {
	WS          string    `json:"workspace"`
	URL         string    `json:"url"` // without credentials
	Ref         string    `json:"ref"`
	Path        string    `json:"path,omitempty"`
	Commit      string    `json:"commit"`
	Previous    string    `json:"previous,omitempty"`
	Message     string    `json:"message,omitempty"` // the commit message's first line
	Trigger     string    `json:"trigger"`           // startup | poll | webhook
	CommittedAt time.Time `json:"committed_at,omitzero"`
	At          time.Time `json:"at"`
}

func (*SourceUpdated) EventType() string   { return TypeSourceUpdated }
func (d *SourceUpdated) Subject() string   { return d.WS }
func (d *SourceUpdated) Workspace() string { return d.WS }
func (d *SourceUpdated) Key() string       { return "su-" + d.WS + "-" + d.Commit + "-" + d.Previous }
func (d *SourceUpdated) Validate() error {
	switch {
	case d.WS == "":
		return errors.New("workspace is empty")
	case d.Commit == "":
		return errors.New("commit is empty")
	}
	return nil
}
func (d *SourceUpdated) Summary() string {
	c := d.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	s := fmt.Sprintf("workspace %s now at %s (%s)", d.WS, c, d.Ref)
	if d.Message != "" {
		s += ": " + d.Message
	}
	return s
}

// Alert is the receipt of a notification: delivered or failed for good.
type Alert struct {
	Sink       string    `json:"sink"`
	EventID    string    `json:"event_id"`
	ForType    string    `json:"event_type"` // type of the event the alert was about
	WS         string    `json:"workspace,omitempty"`
	FindingIDs []string  `json:"finding_ids,omitempty"`
	Attempts   int       `json:"attempts"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
	failed     bool
}

// NewAlert returns alert.delivered data, or alert.failed when failed is true.
func NewAlert(failed bool, a Alert) *Alert {
	a.failed = failed
	return &a
}

// Failed reports whether this is an alert.failed receipt.
func (d *Alert) Failed() bool { return d.failed }

func (d *Alert) EventType() string {
	if d.failed {
		return TypeAlertFailed
	}
	return TypeAlertDelivered
}
func (d *Alert) Subject() string   { return d.Sink + "/" + d.EventID }
func (d *Alert) Workspace() string { return d.WS }
func (d *Alert) Key() string {
	v := "ok"
	if d.failed {
		v = "failed"
	}
	return "al-" + d.Sink + "-" + d.EventID + "-" + v
}
func (d *Alert) Validate() error {
	switch {
	case d.Sink == "":
		return errors.New("sink is empty")
	case d.EventID == "":
		return errors.New("event_id is empty")
	case d.failed && d.Error == "":
		return errors.New("error is empty: a failed alert says why")
	}
	return nil
}
func (d *Alert) Summary() string {
	if d.failed {
		return fmt.Sprintf("alert to %s failed after %d attempts: %s", d.Sink, d.Attempts, d.Error)
	}
	return fmt.Sprintf("alert to %s delivered (%s, %d attempts)", d.Sink, d.ForType, d.Attempts)
}

func validClass(c string) bool {
	for _, k := range Classes {
		if c == k {
			return true
		}
	}
	return false
}

func validSeverity(s string) error {
	switch s {
	case SeverityInfo, SeverityWarning, SeverityCritical:
		return nil
	}
	return fmt.Errorf("severity %q is not info, warning or critical", s)
}

func capList(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(append([]string(nil), s[:n]...), fmt.Sprintf("+%d", len(s)-n))
}

func countsString(m map[string]int) string {
	var parts []string
	for _, c := range Classes {
		if m[c] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", c, m[c]))
		}
	}
	if len(parts) == 0 {
		return "clean"
	}
	return strings.Join(parts, " ")
}
