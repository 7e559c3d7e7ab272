package chaos

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	s := Step{Lane: lane, Change: change, At: at, Expects: what}
	r, err := d.h.Rec.Wait(ctx, at, d.Limit, what, match)
	if err == nil {
		s.Done = r.At
	}
	if ctx.Err() == nil || err == nil { // not the driver stopping mid-wait
		d.record(s)
		took := "NEVER (limit " + d.Limit.String() + ")"
		if err == nil {
			took = s.Done.Sub(at).Round(100 * time.Millisecond).String()
		}
		d.h.t.Logf("%s lane %s: %s → %s in %s", time.Now().Format("15:04:05"), lane, change, what, took)
	}
}

func detected(addr, class string) func(Record) bool {
	return func(r Record) bool {
		dd, ok := r.Data.(*events.DriftDetected)
		return ok && dd.Finding.Address == addr && (class == "" || dd.Finding.Class == class)
	}
}

func resolved(addr string) func(Record) bool {
	return func(r Record) bool {
		dr, ok := r.Data.(*events.DriftResolved)
		return ok && dr.Finding.Address == addr
	}
}

func imported(addr string) func(Record) bool {
	return func(r Record) bool {
		im, ok := r.Data.(*events.Import)
		return ok && im.Address == addr && (im.Verb() == events.ImportSucceeded || im.Verb() == events.ImportFailed ||
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
	patch := func(kind, name, manager string, body string) func(context.Context) error {
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
	lanes := map[string]func(n int) bool{
		// scale: kubectl scale, and back to the configuration's count.
		"scale": func(n int) bool {
			const addr = "kubernetes_deployment.marketplace"
			at, err := retry(ctx, patch("deployment", "marketplace", "kubectl-scale", `{"spec":{"replicas":5}}`))
			if err != nil {
				return false
			}
			d.expect(ctx, "scale", "replicas 5", at, "drift.detected "+addr, detected(addr, events.ClassChanged))
			if at, err = retry(ctx, patch("deployment", "marketplace", "kubectl-scale", `{"spec":{"replicas":2}}`)); err != nil {
				return false
			}
			d.expect(ctx, "scale", "replicas back", at, "drift.resolved "+addr, resolved(addr))
			return true
		},
		// label: kubectl label on the service, and off again.
		"label": func(n int) bool {
			const addr = "kubernetes_service.marketplace"
			at, err := retry(ctx, patch("service", "marketplace", "kubectl-label", fmt.Sprintf(`{"metadata":{"labels":{"chaos":"edit-%d"}}}`, n)))
			if err != nil {
				return false
			}
			d.expect(ctx, "label", "label on", at, "drift.detected "+addr, detected(addr, events.ClassChanged))
			if at, err = retry(ctx, patch("service", "marketplace", "kubectl-label", `{"metadata":{"labels":{"chaos":null}}}`)); err != nil {
				return false
			}
			d.expect(ctx, "label", "label off", at, "drift.resolved "+addr, resolved(addr))
			return true
		},
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
			d.expect(ctx, "recreate", "delete", at, "drift.detected "+addr, detected(addr, events.ClassDeleted))
			s := saved.DeepCopy()
			s.ObjectMeta = metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: s.Labels, Annotations: s.Annotations}
			if at, err = retry(ctx, func(c context.Context) error {
				_, err := kube.CoreV1().Secrets(ns).Create(c, s, metav1.CreateOptions{FieldManager: "kubectl-create"})
				return err
			}); err != nil {
				return false
			}
			d.expect(ctx, "recreate", "create", at, "drift.resolved "+addr, resolved(addr))
			return true
		},
		// adopt: the object leaves the state (tofu state rm); the planner
		// reports it unimported and the importer adopts it (auto-low-risk).
		"adopt": func(n int) bool {
			const addr = "kubernetes_config_map.marketplace"
			inState := false
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
				if !inState {
					return nil // an earlier adoption did not finish: wait for it below
				}
				return d.h.WS.TF.StateRm(c, addr)
			})
			if err != nil {
				return false
			}
			if inState {
				d.expect(ctx, "adopt", "state rm", at, "drift.detected unimported "+addr, detected(addr, events.ClassUnimported))
			}
			d.expect(ctx, "adopt", "import", at, "import outcome "+addr, func(r Record) bool {
				return imported(addr)(r) && r.Data.(*events.Import).Verb() == events.ImportSucceeded
			})
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
// import must not change them (the adopted ConfigMap above all).
func (h *Harness) snapshot(ctx context.Context) map[string]string {
	out := map[string]string{}
	kube := h.Lab.Kube()
	add := func(kind string, m metav1.Object, err error) {
		if err == nil {
			out[kind+"/"+m.GetName()] = string(m.GetUID()) + "@" + m.GetResourceVersion()
		}
	}
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "marketplace-config", metav1.GetOptions{})
	add("configmap", cm, err)
	svc, err := kube.CoreV1().Services(ns).Get(ctx, "recommendations", metav1.GetOptions{})
	add("service", svc, err)
	role, err := kube.RbacV1().Roles(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	add("role", role, err)
	rb, err := kube.RbacV1().RoleBindings(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	add("rolebinding", rb, err)
	sa, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "marketplace", metav1.GetOptions{})
	add("serviceaccount", sa, err)
	return out
}
