package adopt

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/classify"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/gate"
	"github.com/driftgate/driftgate/pkg/live"
	"github.com/driftgate/driftgate/pkg/tfkube"
)

// generateFile is the scratch file of import blocks the tool generates
// configuration for; it lives only in the working copy, during that plan.
const generateFile = "driftgate_generate_imports.tf"

// generate finds the unmanaged objects of the workspace's namespaces,
// chooses a resource type and an address for each, lets the tool generate
// their configuration in the working copy and keeps it, sensitive
// attributes turned into variables.
func generate(ctx context.Context, o Options, p *gate.Planned, res *Result) error {
	objs, skipped, err := unmanaged(ctx, o, p)
	if err != nil {
		return err
	}
	res.Skipped = append(res.Skipped, skipped...)
	if len(objs) == 0 {
		return nil
	}
	taken := map[string]bool{}
	for _, e := range p.Index.Entries() {
		taken[e.Address] = true
	}
	for _, f := range res.Findings {
		taken[f.Address] = true
	}
	var fs []events.Finding
	recs := map[string]*events.InventoryRecord{}
	for _, rec := range objs {
		r := classify.Unmanaged(classify.Workspace{Name: p.Workspace.Name, Cluster: p.Cluster, HighRiskKinds: p.Workspace.HighRiskKinds}, rec, time.Now())
		typ, err := p.Result.Catalog.TypeFor(rec.Object.Group, rec.Object.Version, rec.Object.Kind)
		if err != nil {
			res.Skipped = append(res.Skipped, rec.Object.String()+": "+err.Error())
			continue
		}
		obj := tfkube.Object{Group: rec.Object.Group, Version: rec.Object.Version, Kind: rec.Object.Kind,
			Namespace: rec.Object.Namespace, Name: rec.Object.Name, ClusterScoped: rec.Object.Namespace == ""}
		id, err := tfkube.ImportID(typ, obj)
		if err != nil {
			res.Skipped = append(res.Skipped, rec.Object.String()+": "+err.Error())
			continue
		}
		f := r.Finding
		f.Address, f.ImportID = typ+"."+resourceName(typ, rec.Object, taken), id
		taken[f.Address] = true
		fs = append(fs, f)
		recs[f.Address] = rec
	}
	if len(fs) == 0 {
		return nil
	}
	findings.ImportOrder(fs)
	var scratch strings.Builder
	for _, f := range fs {
		importBlock(&scratch, Block{Address: f.Address, ID: f.ImportID})
	}
	gen, err := p.Runner.GenerateConfig(ctx, generateFile, []byte(scratch.String()))
	blocks := splitResources(gen)
	if err != nil && len(blocks) == 0 {
		return fmt.Errorf("generate configuration: %w", err)
	}
	for _, f := range fs {
		cfg, ok := blocks[f.Address]
		if !ok {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: the tool generated no configuration for %s", f.Object, f.Address))
			continue
		}
		rec := recs[f.Address]
		b := Block{Address: f.Address, ID: f.ImportID, Object: f.Object, Class: f.Class, Risk: f.Risk, FindingID: f.ID,
			CreatedBy: findings.CreatedBy(rec, f), Hints: hints(rec)}
		b.Config, b.Sensitive = sanitize(cfg)
		if slices.Contains(b.Sensitive, "yaml_body") || slices.Contains(b.Sensitive, "manifest") {
			// The whole object is the sensitive attribute: nothing usable
			// was generated, and ignoring it would be a resource that
			// manages nothing.
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: the tool generated its %s only as a sensitive value: write its configuration by hand",
				f.Object, strings.Join(b.Sensitive, ", ")))
			continue
		}
		res.Inventory[events.InventoryKey(f.Object)] = rec
		res.Generated = append(res.Generated, b)
	}
	return nil
}

// unmanaged lists the live objects of the workspace's namespaces (and
// kinds) that neither its state nor its configuration has: not made by
// Kubernetes or a controller, not part of a Helm release or an Argo CD
// application (those have an owner already).
func unmanaged(ctx context.Context, o Options, p *gate.Planned) ([]*events.InventoryRecord, []string, error) {
	w := p.Workspace
	if len(w.Namespaces) == 0 {
		return nil, nil, fmt.Errorf("--generate-config: workspace %s declares no namespaces (workspaces[].namespaces): which objects would be its own is unknown", w.Name)
	}
	known := map[string]bool{}
	for _, r := range p.Results {
		if r.Finding.Object.Name != "" {
			known[tfkube.RefKey(r.Finding.Object)] = true
		}
	}
	rc := rest.CopyConfig(o.Gate.Kube)
	rc.WarningHandler = rest.NoWarnings{} // deprecated kinds (v1 Endpoints) are listed, not used
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, nil, err
	}
	lists, err := dc.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, nil, fmt.Errorf("--generate-config: discovery: %w", err)
	}
	var out []*events.InventoryRecord
	var skipped []string
	now := time.Now()
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !hasVerb(r.Verbs, "list") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			for _, ns := range w.Namespaces {
				ul, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					continue // a resource this identity may not list: not ours to adopt
				}
				for i := range ul.Items {
					u := &ul.Items[i]
					u.SetAPIVersion(gv.String())
					u.SetKind(r.Kind)
					rec := live.ObjectRecord(p.Cluster, tfkube.ResourceName(r.Name, gv.Group), u, now)
					ref := rec.Object
					switch {
					case !classify.InScope(w.Namespaces, w.Kinds, ref, rec.Resource), classify.SystemObject(rec),
						known[tfkube.RefKey(ref)], p.Index.Manages(ref), generatedByKubernetes(u):
						continue
					case rec.Owners.Helm != nil || rec.Owners.ArgoCD != "":
						skipped = append(skipped, ref.String()+": "+strings.Join(hints(rec), ", ")+" owns it")
						continue
					}
					out = append(out, rec)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return tfkube.RefKey(out[i].Object) < tfkube.RefKey(out[j].Object) })
	return out, skipped, nil
}

func hasVerb(vs []string, v string) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// generatedByKubernetes: objects the API server or a controller writes for
// others (ServiceAccount tokens).
func generatedByKubernetes(u *unstructured.Unstructured) bool {
	if u.GetKind() == "Secret" && u.GetAPIVersion() == "v1" {
		t, _, _ := unstructured.NestedString(u.Object, "type")
		return t == "kubernetes.io/service-account-token" || strings.HasPrefix(t, "helm.sh/")
	}
	return false
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// resourceName is the resource name of a generated block: the object's
// name as an identifier, with its namespace when that name is taken.
func resourceName(typ string, o events.ObjectRef, taken map[string]bool) string {
	ident := func(s string) string {
		s = strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(s), "_"), "_")
		if s == "" || s[0] >= '0' && s[0] <= '9' {
			s = "o_" + s
		}
		return s
	}
	name := ident(o.Name)
	if taken[typ+"."+name] && o.Namespace != "" {
		name = ident(o.Namespace + "_" + o.Name)
	}
	base := name
	for i := 2; taken[typ+"."+name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

var resourceHead = regexp.MustCompile(`^resource "([^"]+)" "([^"]+)" \{$`)

// splitResources cuts the tool's generated file into its resource blocks,
// by address, without the tool's comments.
func splitResources(b []byte) map[string]string {
	out := map[string]string{}
	var cur strings.Builder
	addr := ""
	for _, l := range strings.Split(string(b), "\n") {
		if addr == "" {
			if m := resourceHead.FindStringSubmatch(l); m != nil {
				addr = m[1] + "." + m[2]
				cur.Reset()
				cur.WriteString(l + "\n")
			}
			continue
		}
		cur.WriteString(l + "\n")
		if l == "}" {
			out[addr] = cur.String()
			addr = ""
		}
	}
	return out
}

var (
	emptyAttr     = regexp.MustCompile(`^\s*[A-Za-z0-9_]+\s*=\s*(null|""|\{\}|\[\])\s*$`)
	sensitiveAttr = regexp.MustCompile(`^(\s*)([A-Za-z0-9_]+)(\s*)=\s*null\s*# sensitive\s*$`)
)

// sanitize turns a generated resource block into one that plans: empty
// and null attributes go (the provider's defaults; OpenTofu writes
// generate_name = "", which the provider then rejects), and every sensitive
// attribute (the tool writes `null # sensitive`) is left out with a comment
// and ignored (lifecycle ignore_changes), so that its value stays where it
// is — live and in the state — and never in a file: the plan after the
// import is clean without it, and nothing is needed in CI to supply it.
func sanitize(block string) (string, []string) {
	var b strings.Builder
	var left []string
	lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
	for i, l := range lines {
		if i == len(lines)-1 && l == "}" && len(left) > 0 {
			b.WriteString("  lifecycle {\n")
			b.WriteString("    # Sensitive: the value stays live and in the state, never in a file.\n")
			b.WriteString("    # To manage it with Terraform, set it from a sensitive variable and drop it here.\n")
			fmt.Fprintf(&b, "    ignore_changes = [%s]\n", strings.Join(left, ", "))
			b.WriteString("  }\n")
		}
		if m := sensitiveAttr.FindStringSubmatch(l); m != nil {
			left = append(left, m[2])
			fmt.Fprintf(&b, "%s# %s: sensitive, left out (see lifecycle below)\n", m[1], m[2])
			continue
		}
		if emptyAttr.MatchString(l) || strings.HasPrefix(strings.TrimSpace(l), "# __generated__") {
			continue
		}
		b.WriteString(l + "\n")
	}
	return b.String(), left
}
