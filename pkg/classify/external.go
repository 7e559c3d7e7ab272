package classify

// This file classifies the resources of a mixed workspace that are not
// Kubernetes objects (a cloud bucket, a registry's robot account, random_*,
// null_resource, local_file): driftgate sees nothing of them live, so the
// plan is all there is. Their drift is what the provider's refresh found
// (resource_drift), attributed to "outside the cluster"; a finding of one has
// no object.

import (
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// OutsideCluster is the manager named in the attribution of drift in a
// resource that is not a Kubernetes object: whoever changed it did so
// outside the cluster, where driftgate cannot see who.
const OutsideCluster = "outside the cluster"

// kubernetesTypePrefixes are the resource type prefixes of the providers
// whose resources manage Kubernetes objects: hashicorp/kubernetes
// (kubernetes_*), gavinbunney/kubectl and its forks (kubectl_manifest) and
// hashicorp/helm (helm_release). A resource type's prefix is the provider's
// type name, whatever local name or alias the configuration gives the
// provider.
var kubernetesTypePrefixes = []string{"kubernetes_", "kubectl_", "helm_"}

// External reports whether resources of tfType manage something outside
// the cluster: every type but those of the Kubernetes providers.
func External(tfType string) bool {
	if tfType == "" {
		return false
	}
	for _, p := range kubernetesTypePrefixes {
		if strings.HasPrefix(tfType, p) {
			return false
		}
	}
	return true
}

// external classifies one address of a resource outside the cluster: its
// planned change rc and its drift d (either may be nil).
//
//   - drift delete: deleted (the provider no longer finds the resource as
//     state records it; some providers, hashicorp/local among them, report
//     a changed resource that way too);
//   - drift update of attributes apply would set back: changed, the
//     attributes in Terraform's notation; of attributes it would not (the
//     plan does nothing there: computed, or lifecycle ignore_changes):
//     ignored;
//   - planned create, update, replace or delete with no drift behind it:
//     pending-config. A create is never unimported: driftgate cannot look
//     outside the cluster for the resource.
func (c *Classifier) external(in Input, rc, d *tfjson.ResourceChange) []Result {
	act := planned(rc)
	src := rc
	if src == nil {
		src = d
	}
	provider := providerName(src.ProviderName)
	outside := []events.Attribution{{Manager: OutsideCluster}}
	if d != nil && d.Change.Actions.Delete() {
		return []Result{c.result(src, tfkube.Object{}, events.ClassDeleted, act, nil, outside, in.Now,
			"outside the cluster: "+provider+"'s refresh no longer finds the resource as state records it "+
				"(deleted, or changed in a way this provider reports as gone); apply would create it again")}
	}
	var out []Result
	drifted := map[string]bool{}
	if d != nil && d.Change.Actions.Update() {
		reverted := map[string]bool{}
		if rc != nil && act != "none" {
			for _, p := range externalChanges(rc.Change) {
				reverted[p.String()] = true
			}
		}
		var changed, ignored []string
		excerpt := events.Excerpt{}
		for _, p := range externalChanges(d.Change) {
			k := p.String()
			drifted[k] = true
			if !reverted[k] {
				ignored = append(ignored, k)
				continue
			}
			changed = append(changed, k)
			addExcerpt(&excerpt, k, p, d.Change, tfkube.Object{})
		}
		switch {
		case len(changed) > 0:
			reason := "outside the cluster: " + provider + "'s refresh found attributes changed that the configuration sets; apply would set them back"
			if len(ignored) > 0 {
				reason += " (ignored, apply leaves them: " + strings.Join(capList(ignored, 4), ", ") + ")"
			}
			r := c.result(src, tfkube.Object{}, events.ClassChanged, act, changed, outside, in.Now, reason)
			r.Excerpt = excerpt
			out = append(out, r)
		case len(ignored) > 0:
			out = append(out, c.result(src, tfkube.Object{}, events.ClassIgnored, act, ignored, outside, in.Now,
				"outside the cluster: "+provider+"'s refresh found attributes changed that apply would leave as they are (computed, or ignore_changes)"))
		}
	}
	switch act {
	case "none":
		return out
	case "create":
		return append(out, c.result(rc, tfkube.Object{}, events.ClassPendingConfig, act, nil, nil, in.Now,
			"in the configuration, not in state: apply would create it (outside the cluster: driftgate cannot see whether it exists already)"))
	case "delete":
		return append(out, c.result(rc, tfkube.Object{}, events.ClassPendingConfig, act, nil, nil, in.Now,
			"removed from the configuration: apply would destroy it"))
	}
	var pending []string
	excerpt := events.Excerpt{}
	for _, p := range externalChanges(rc.Change) {
		if k := p.String(); !drifted[k] {
			pending = append(pending, k)
			addExcerpt(&excerpt, k, p, rc.Change, tfkube.Object{})
		}
	}
	if len(pending) == 0 && len(out) > 0 {
		return out // the plan only sets the drifted attributes back
	}
	r := c.result(rc, tfkube.Object{}, events.ClassPendingConfig, act, pending, nil, in.Now,
		"the configuration changed and was not applied")
	r.Excerpt = excerpt
	return append(out, r)
}

// externalChanges lists the attributes that differ between a change's
// before and after, leaving out those known only after apply (computed
// attributes an update or replace recomputes: they are the provider's, not
// the configuration's) and id.
func externalChanges(ch *tfjson.Change) []tfkube.Path {
	if ch == nil {
		return nil
	}
	unknown := tfkube.UnknownPaths(ch.AfterUnknown)
	var out []tfkube.Path
	for _, p := range tfkube.Diff(ch.Before, ch.After) {
		if len(p) == 1 && p[0] == "id" || underAny(p, unknown) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// underAny reports whether p is one of ps or below one of them.
func underAny(p tfkube.Path, ps []tfkube.Path) bool {
	for _, q := range ps {
		if len(q) <= len(p) && q.String() == p[:len(q)].String() {
			return true
		}
	}
	return false
}

// providerName shortens a provider address to namespace/type
// (registry.opentofu.org/hashicorp/local -> hashicorp/local).
func providerName(addr string) string {
	if addr == "" {
		return "the provider"
	}
	parts := strings.Split(addr, "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	return strings.Join(parts, "/")
}
