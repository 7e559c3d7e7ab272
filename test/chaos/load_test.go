package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/events"
)

// Step is one change the load driver made and what it waited for.
type Step struct {
	Lane    string
	Change  string
	At      time.Time // the change was made
	Done    time.Time // the expected event arrived (zero: never, within the limit)
	Expects string
}

// Driver runs one lane per kind of change, each a cycle of change → wait
// for the finding → revert → wait for its resolution; a lane's next change
// follows its last fact after at least Pace. Rates: see docs/operations.md.
type Driver struct {
	h     *Harness
	Pace  time.Duration
	Limit time.Duration // how long a lane waits for one fact

	mu    sync.Mutex
	steps []Step
}

// Steps returns a copy of the steps so far.
func (d *Driver) Steps() []Step {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Step(nil), d.steps...)
}

func (d *Driver) record(s Step) {
	d.mu.Lock()
	d.steps = append(d.steps, s)
	d.mu.Unlock()
}

// retry repeats a live write until it succeeds (the apiserver may be down).
func retry(ctx context.Context, f func(context.Context) error) (time.Time, error) {
	for {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(wctx)
		cancel()
		if err == nil {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// expect waits for the event after at and records the step.
func (d *Driver) expect(ctx context.Context, lane, change string, at time.Time, what string, match func(Record) bool) {
	d.expectWithin(ctx, d.Limit, lane, change, at, what, match)
}

func (d *Driver) expectWithin(ctx context.Context, limit time.Duration, lane, change string, at time.Time, what string, match func(Record) bool) (Record, bool) {
	s := Step{Lane: lane, Change: change, At: at, Expects: what}
	r, err := d.h.Rec.Wait(ctx, at, limit, what, match)
	if err == nil {
		s.Done = r.At
	}
	if ctx.Err() == nil || err == nil { // not the driver stopping mid-wait
		d.record(s)
		took := "NEVER (limit " + limit.String() + ")"
		if err == nil {
			took = s.Done.Sub(at).Round(100 * time.Millisecond).String()
		}
		d.h.t.Logf("%s lane %s: %s → %s in %s", time.Now().Format("15:04:05"), lane, change, what, took)
	}
	return r, err == nil
}

func detected(ws, addr, class string) func(Record) bool {
	return func(r Record) bool {
		dd, ok := r.Data.(*events.DriftDetected)
		return ok && dd.Finding.Workspace == ws && dd.Finding.Address == addr && (class == "" || dd.Finding.Class == class)
	}
}

func resolved(ws, addr string) func(Record) bool {
	return func(r Record) bool {
		dr, ok := r.Data.(*events.DriftResolved)
		return ok && dr.Finding.Workspace == ws && dr.Finding.Address == addr
	}
}

func imported(ws, addr string) func(Record) bool {
	return func(r Record) bool {
		im, ok := r.Data.(*events.Import)
		return ok && im.WS == ws && im.Address == addr && (im.Verb() == events.ImportSucceeded || im.Verb() == events.ImportFailed ||
			im.Verb() == events.ImportRolledBack || im.Verb() == events.ImportRejected)
	}
}

// Run runs the lanes until ctx ends.
func (d *Driver) Run(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	kube := d.h.Lab.Kube()
	pace := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d.Pace):
			return true
		}
	}
	patch := func(ns, kind, name, manager string, body string) func(context.Context) error {
		return func(c context.Context) error {
			var err error
			opts := metav1.PatchOptions{FieldManager: manager}
			switch kind {
			case "deployment":
				_, err = kube.AppsV1().Deployments(ns).Patch(c, name, types.MergePatchType, []byte(body), opts)
			case "service":
				_, err = kube.CoreV1().Services(ns).Patch(c, name, types.MergePatchType, []byte(body), opts)
			}
			return err
		}
	}
	// scale: kubectl scale, and back to the configuration's count.
	scale := func(lane, ws, ns string) func(n int) bool {
		return func(n int) bool {
			const addr = "kubernetes_deployment.marketplace"
			at, err := retry(ctx, patch(ns, "deployment", "marketplace", "kubectl-scale", `{"spec":{"replicas":5}}`))
			if err != nil {
				return false
			}
			d.expect(ctx, lane, "replicas 5", at, "drift.detected "+addr, detected(ws, addr, events.ClassChanged))
			if at, err = retry(ctx, patch(ns, "deployment", "marketplace", "kubectl-scale", `{"spec":{"replicas":2}}`)); err != nil {
				return false
			}
			d.expect(ctx, lane, "replicas back", at, "drift.resolved "+addr, resolved(ws, addr))
			return true
		}
	}
	// label: kubectl label on the service, and off again.
	label := func(lane, ws, ns string) func(n int) bool {
		return func(n int) bool {
			const addr = "kubernetes_service.marketplace"
			at, err := retry(ctx, patch(ns, "service", "marketplace", "kubectl-label", fmt.Sprintf(`{"metadata":{"labels":{"chaos":"edit-%d"}}}`, n)))
			if err != nil {
				return false
			}
			d.expect(ctx, lane, "label on", at, "drift.detected "+addr, detected(ws, addr, events.ClassChanged))
			if at, err = retry(ctx, patch(ns, "service", "marketplace", "kubectl-label", `{"metadata":{"labels":{"chaos":null}}}`)); err != nil {
				return false
			}
			d.expect(ctx, lane, "label off", at, "drift.resolved "+addr, resolved(ws, addr))
			return true
		}
	}
	adoptFailed := false // the adopt lane's last outcome was not a success
	lanes := map[string]func(n int) bool{
		"scale": scale("scale", wsName, ns),
		"label": label("label", wsName, ns),
		// The Terraform workspace: the same two kinds of change.
		"tf-scale": scale("tf-scale", tfWSName, tfNS),
		"tf-label": label("tf-label", tfWSName, tfNS),
		// recreate: kubectl delete secret, then create it again as it was.
		"recreate": func(n int) bool {
			const addr = "kubernetes_secret.marketplace"
			var saved *corev1.Secret
			at, err := retry(ctx, func(c context.Context) error {
				if saved == nil {
					s, err := kube.CoreV1().Secrets(ns).Get(c, "marketplace-db", metav1.GetOptions{})
					if err != nil {
						return err
					}
					saved = s
				}
				return kube.CoreV1().Secrets(ns).Delete(c, "marketplace-db", metav1.DeleteOptions{})
			})
			if err != nil {
				return false
			}
			d.expect(ctx, "recreate", "delete", at, "drift.detected "+addr, detected(wsName, addr, events.ClassDeleted))
			s := saved.DeepCopy()
			s.ObjectMeta = metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: s.Labels, Annotations: s.Annotations}
			if at, err = retry(ctx, func(c context.Context) error {
				_, err := kube.CoreV1().Secrets(ns).Create(c, s, metav1.CreateOptions{FieldManager: "kubectl-create"})
				return err
			}); err != nil {
				return false
			}
			d.expect(ctx, "recreate", "create", at, "drift.resolved "+addr, resolved(wsName, addr))
			return true
		},
		// adopt: the object leaves the state (tofu state rm); the planner
		// reports it unimported and the importer adopts it (auto-low-risk).
		"adopt": func(n int) bool {
			const addr = "kubernetes_config_map.marketplace"
			inState, nudged := false, false
			at, err := retry(ctx, func(c context.Context) error {
				list, err := d.h.WS.TF.Show(c)
				if err != nil {
					return err
				}
				inState = false
				if list.Values != nil && list.Values.RootModule != nil {
					for _, r := range list.Values.RootModule.Resources {
						inState = inState || r.Address == addr
					}
				}
				switch {
				case inState:
					return d.h.WS.TF.StateRm(c, addr)
				case adoptFailed:
					// The last adoption ended without the import (S3 was
					// down): the importer requests a finding again only at
					// a new state serial, so move it as a user's state push
					// would, content unchanged.
					nudged = true
					_, err := d.h.WS.PushNextSerial(c)
					return err
				}
				return nil // an earlier adoption did not finish: wait for it below
			})
			if err != nil {
				return false
			}
			if inState {
				d.expect(ctx, "adopt", "state rm", at, "drift.detected unimported "+addr, detected(wsName, addr, events.ClassUnimported))
			}
			change := "import"
			if nudged {
				change = "state push (serial+1) after a failed import"
			}
			// An importer killed mid-import hands over once its lease
			// (2 minutes) expires: the adoption may take that much longer.
			// Any outcome is the fact; a failure makes the next cycle nudge.
			if r, ok := d.expectWithin(ctx, d.Limit+2*time.Minute, "adopt", change, at, "import outcome "+addr, imported(wsName, addr)); ok {
				adoptFailed = r.Data.(*events.Import).Verb() != events.ImportSucceeded
			}
			return true
		},
	}
	for _, lane := range lanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; ctx.Err() == nil; n++ {
				if !lane(n) || !pace() {
					return
				}
			}
		}()
	}
	return &wg
}

// snapshot is uid and resourceVersion of the objects nobody changes: an
// import must not change them (the adopted ConfigMap above all). A read
// the apiserver does not answer is retried for up to a minute; an object
// that is gone reads as absent.
func (h *Harness) snapshot(ctx context.Context) map[string]string {
	out := map[string]string{}
	kube := h.Lab.Kube()
	get := func(key string, f func(c context.Context) (metav1.Object, error)) {
		_ = until(ctx, time.Minute, "the apiserver to answer", func() bool {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			m, err := f(c)
			switch {
			case err == nil:
				out[key] = string(m.GetUID()) + "@" + m.GetResourceVersion()
			case apierrors.IsNotFound(err):
				out[key] = "absent"
			default:
				return false
			}
			return true
		})
	}
	for _, n := range []string{ns, tfNS} {
		get(n+"/configmap/marketplace-config", func(c context.Context) (metav1.Object, error) {
			return kube.CoreV1().ConfigMaps(n).Get(c, "marketplace-config", metav1.GetOptions{})
		})
		get(n+"/service/recommendations", func(c context.Context) (metav1.Object, error) {
			return kube.CoreV1().Services(n).Get(c, "recommendations", metav1.GetOptions{})
		})
		get(n+"/role/marketplace", func(c context.Context) (metav1.Object, error) {
			return kube.RbacV1().Roles(n).Get(c, "marketplace", metav1.GetOptions{})
		})
		get(n+"/rolebinding/marketplace", func(c context.Context) (metav1.Object, error) {
			return kube.RbacV1().RoleBindings(n).Get(c, "marketplace", metav1.GetOptions{})
		})
		get(n+"/serviceaccount/marketplace", func(c context.Context) (metav1.Object, error) {
			return kube.CoreV1().ServiceAccounts(n).Get(c, "marketplace", metav1.GetOptions{})
		})
	}
	return out
}
