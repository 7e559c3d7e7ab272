package classify

import (
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// ToolManagers are the field managers the Terraform/OpenTofu Kubernetes
// providers write with: hashicorp/kubernetes 1.13 ("HashiCorp", from its
// user agent) and gavinbunney/kubectl (kubectl's client-side apply).
var ToolManagers = []string{"HashiCorp", "Terraform", "kubectl", "kubectl-client-side-apply", "terraform-provider-kubernetes"}

func toolManager(m string) bool {
	for _, t := range ToolManagers {
		if strings.EqualFold(t, m) {
			return true
		}
	}
	return false
}

// Unowned builds the ignored finding of an address whose object the watcher
// saw change in fields the plan does not show: fields the configuration does
// not set, such as an operator's defaults or a controller's bookkeeping.
// They are counted, never alerted. writes are the observed changes; paths
// already reported by another finding of the address, and writes by the
// providers themselves (an apply), are left out. ok is false when nothing
// is left.
func Unowned(ws Workspace, address string, obj tfkube.Object, writes []events.PathOwner, reported []string, now time.Time) (Result, bool) {
	if tfkube.IsPatch(AddressType(address)) {
		// A patch-style resource owns only the fields it sets: the rest
		// of the object (someone else's) is not its drift, ignored or not.
		return Result{}, false
	}
	var paths []string
	var attr []events.Attribution
	for _, w := range writes {
		if w.Path == "" || w.Manager == "" || toolManager(w.Manager) {
			continue
		}
		covered := false
		for _, r := range reported {
			if tfkube.FieldMatches(w.Path, r) {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		paths = append(paths, w.Path)
		attr = append(attr, w.Attribution)
	}
	if len(paths) == 0 {
		return Result{}, false
	}
	f := events.Finding{
		ID:                events.FindingID(ws.Name, address, events.ClassIgnored),
		Workspace:         ws.Name,
		Address:           address,
		Object:            obj.Ref(ws.Cluster),
		Class:             events.ClassIgnored,
		Risk:              KindRisk(obj, ws.HighRiskKinds),
		Paths:             uniqueSorted(paths),
		Attribution:       dedupeAttribution(attr),
		RecommendedAction: ActionNone,
		FirstSeen:         now.UTC(),
		LastSeen:          now.UTC(),
		State:             events.StateOpen,
	}
	return Result{Finding: f, Planned: "none",
		Reason: "changed live in fields the configuration does not set (the plan shows no difference)"}, true
}

// AddressType is the resource type of a resource instance address:
// module.a["x.y"].kubernetes_labels.worker[0] -> kubernetes_labels.
func AddressType(address string) string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(address); i++ {
		switch address[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				parts = append(parts, address[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, address[start:])
	for len(parts) >= 2 && strings.HasPrefix(parts[0], "module") && parts[0] == "module" {
		parts = parts[2:]
	}
	if len(parts) > 0 && parts[0] == "data" {
		parts = parts[1:]
	}
	if len(parts) < 2 {
		return ""
	}
	return parts[0]
}
