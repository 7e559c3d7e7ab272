package watcher_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/test/lab"
)

// testRestart kills a watcher process (SIGKILL) while objects change, makes
// more changes and deletions while it is down, starts a new one and checks
// that every change and deletion is reported, none twice.
func testRestart(t *testing.T, l *lab.Lab) {
	ctx := context.Background()
	ns := testNamespace(t, createNamespace(l))
	cms, secrets := l.Kube().CoreV1().ConfigMaps(ns), l.Kube().CoreV1().Secrets(ns)
	mkCM := func(name string) {
		t.Helper()
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"color": "red"}}, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
	}
	patchCM := func(name, key, value string) {
		t.Helper()
		p := fmt.Sprintf(`{"data":{%q:%q}}`, key, value)
		if _, err := cms.Patch(ctx, name, types.MergePatchType, []byte(p), metav1.PatchOptions{FieldManager: "kubectl-patch"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"keep", "mod", "del", "churn", "again", "revert"} {
		mkCM(n)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"password": "one", "user": "admin"}}, metav1.CreateOptions{FieldManager: "terraform"}); err != nil {
		t.Fatal(err)
	}

	env := eventstest.Start(t)
	s := collect(t, env)
	cfg := childConfig(l.Kubeconfig, []string{"configmaps", "secrets"}, []string{ns}, "")

	// First watcher: its first sync records what exists without reporting it.
	a := startChild(t, env, cfg)
	s.wait(t, time.Minute, "first watcher synced", synced(fmt.Sprintf("-%d", a.pid())))
	mkCM("live")
	s.wait(t, 30*time.Second, "live added", isChange("ConfigMap", ns, "live", events.ChangeAdded))
	patchCM("mod", "color", "green")
	s.wait(t, 30*time.Second, "mod updated", isChange("ConfigMap", ns, "mod", events.ChangeUpdated))
	// revert: a change published whose record a crash kept from being
	// written (the record of before is put back below, once the watcher is
	// dead), then changed back to what that record holds while nobody
	// watches. The pipeline was told "blue": the relist must say it is red
	// again.
	revertKey := events.InventoryKey(events.ObjectRef{Cluster: "lab", Kind: "ConfigMap", Namespace: ns, Name: "revert"})
	before, err := env.Buckets.Inventory.Get(ctx, revertKey)
	if err != nil {
		t.Fatal(err)
	}
	patchCM("revert", "color", "blue")
	s.wait(t, 30*time.Second, "revert updated", isChange("ConfigMap", ns, "revert", events.ChangeUpdated))

	// Kill it while an object keeps changing.
	var wg sync.WaitGroup
	stopChurn := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stopChurn:
				return
			case <-time.After(30 * time.Millisecond):
			}
			p := fmt.Sprintf(`{"data":{"n":"%d"}}`, i)
			_, _ = cms.Patch(ctx, "churn", types.MergePatchType, []byte(p), metav1.PatchOptions{FieldManager: "kubectl-patch"})
		}
	}()
	time.Sleep(400 * time.Millisecond)
	a.kill()
	time.Sleep(300 * time.Millisecond)
	close(stopChurn)
	wg.Wait()

	// While nobody watches.
	if _, err := env.Buckets.Inventory.Put(ctx, revertKey, before.Value()); err != nil {
		t.Fatal(err)
	}
	patchCM("revert", "color", "red")
	patchCM("mod", "color", "yellow")
	if err := cms.Delete(ctx, "del", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mkCM("new")
	again, err := cms.Get(ctx, "again", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "again", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mkCM("again") // the same name, a new uid
	if _, err := secrets.Patch(ctx, "creds", types.MergePatchType, []byte(`{"stringData":{"password":"two"}}`), metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}

	b := startChild(t, env, cfg)
	bSource := fmt.Sprintf("-%d", b.pid())
	s.wait(t, time.Minute, "second watcher synced", synced(bSource))
	relisted := func(name, change string) *events.ObjectChanged {
		t.Helper()
		kind := "ConfigMap"
		if name == "creds" {
			kind = "Secret"
		}
		oc := s.wait(t, 30*time.Second, change+" "+name+" after restart", isChange(kind, ns, name, change)).Data.(*events.ObjectChanged)
		return oc
	}
	if oc := relisted("del", events.ChangeDeleted); !oc.Relist {
		t.Errorf("deletion while down not marked relist: %+v", oc)
	}
	relisted("live", events.ChangeDeleted)
	if oc := relisted("new", events.ChangeAdded); !oc.Relist {
		t.Errorf("creation while down not marked relist: %+v", oc)
	}
	// Deleted and created again: the old object deleted, the new one added.
	if oc := relisted("again", events.ChangeDeleted); !oc.Relist || oc.Object.UID != string(again.UID) {
		t.Errorf("object deleted while down (created again) reported %+v, want the deletion of uid %s", oc, again.UID)
	}
	if oc := relisted("again", events.ChangeAdded); !oc.Relist || oc.Object.UID == string(again.UID) {
		t.Errorf("object created again while down reported %+v, want an addition of a new uid", oc)
	}
	waitLast := func(kind, name string, pred func(*events.ObjectChanged) bool, what string) {
		t.Helper()
		s.wait(t, 30*time.Second, what, func(r received) bool {
			oc, ok := r.Data.(*events.ObjectChanged)
			return ok && oc.Object.Kind == kind && oc.Object.Namespace == ns && oc.Object.Name == name && pred(oc)
		})
	}
	waitLast("ConfigMap", "mod", func(oc *events.ObjectChanged) bool {
		return oc.Relist && slices.Equal(oc.Paths, []string{"data.color"}) && oc.Attribution[0].Manager == "kubectl-patch"
	}, "mod's change while down")
	waitLast("ConfigMap", "revert", func(oc *events.ObjectChanged) bool {
		return oc.Relist && slices.Equal(oc.Paths, []string{"data.color"}) && oc.Attribution[0].Manager == "kubectl-patch"
	}, "revert's change back to its stale record while down")
	waitLast("Secret", "creds", func(oc *events.ObjectChanged) bool {
		return oc.Relist && slices.Equal(oc.Paths, []string{"data.password"}) && oc.Attribution[0].Manager == "kubectl-edit"
	}, "creds' change while down")

	// churn: the last event reports the live version.
	live, err := cms.Get(ctx, "churn", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitLast("ConfigMap", "churn", func(oc *events.ObjectChanged) bool { return oc.ResourceVersion == live.ResourceVersion }, "churn's live version "+live.ResourceVersion)

	// Then: nothing twice, nothing about what did not change. The second
	// watcher queued every object it listed before it reported Synced; a
	// marker created now is queued after all of them, so once its event is
	// read, whatever the relist had to say (a duplicate, keep) was said.
	mkCM("marker")
	s.wait(t, 30*time.Second, "the marker added", isChange("ConfigMap", ns, "marker", events.ChangeAdded))
	s.WaitCaughtUp(t, 30*time.Second)
	if got := s.changes("ConfigMap", ns, "keep"); len(got) != 0 {
		t.Errorf("unchanged object reported: %+v", got)
	}
	ids := map[string]int{}
	facts := map[string]int{}
	for _, r := range s.all() {
		oc, ok := r.Data.(*events.ObjectChanged)
		if !ok || oc.Object.Namespace != ns {
			continue
		}
		ids[r.Event.ID()]++
		if oc.Change != events.ChangeUpdated {
			facts[oc.Object.UID+" "+oc.Change]++
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	for f, n := range facts {
		if n > 1 {
			t.Errorf("%s reported %d times", f, n)
		}
	}
	// The inventory matches the cluster.
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, cm := range list.Items {
		want[events.InventoryKey(events.ObjectRef{Cluster: "lab", Kind: "ConfigMap", Namespace: ns, Name: cm.Name})] = cm.ResourceVersion
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := map[string]string{}
		for k, v := range kvContents(t, env.Buckets.Inventory) {
			var rec events.InventoryRecord
			if err := jsonUnmarshal(v, &rec); err != nil {
				t.Fatal(err)
			}
			if rec.Object.Kind == "ConfigMap" && rec.Object.Namespace == ns {
				got[k] = rec.ResourceVersion
			}
		}
		if mapsEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inventory %v, cluster %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
