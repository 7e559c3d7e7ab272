package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/driftgate/driftgate/services/watcher/internal/snapshot"
)

func TestLeaseName(t *testing.T) {
	for in, want := range map[string]string{
		"lab":                               "driftgate-watcher-lab",
		"Prod EU/1":                         "driftgate-watcher-prod-eu-1",
		"":                                  "driftgate-watcher-default",
		strings.Repeat("x", 80):             "driftgate-watcher-" + strings.Repeat("x", 45),
		"a" + strings.Repeat("-", 70) + "b": "driftgate-watcher-a",
	} {
		if got := LeaseName(in); got != want {
			t.Errorf("LeaseName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReachability(t *testing.T) {
	r := &reachability{changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if !r.wait(ctx) {
		t.Fatal("wait blocked while reachable")
	}
	down := r.downCh(ctx)
	r.set(true)
	select {
	case <-down:
	case <-time.After(5 * time.Second):
		t.Fatal("downCh not closed on an outage")
	}
	waited := make(chan bool)
	go func() { waited <- r.wait(ctx) }()
	select {
	case <-waited:
		t.Fatal("wait returned during an outage")
	case <-time.After(50 * time.Millisecond):
	}
	r.set(false)
	if !<-waited {
		t.Fatal("wait did not return true on recovery")
	}
	// A downCh made while reachable ends with its context.
	cctx, ccancel := context.WithCancel(ctx)
	d2 := r.downCh(cctx)
	ccancel()
	select {
	case <-d2:
		t.Fatal("downCh closed without an outage")
	case <-time.After(50 * time.Millisecond):
	}
}

func TestListSnapshotsPages(t *testing.T) {
	var calls []metav1.ListOptions
	list := func(_ context.Context, o metav1.ListOptions) (*unstructured.UnstructuredList, error) {
		calls = append(calls, o)
		page := &unstructured.UnstructuredList{}
		n := len(calls)
		for i := range 2 {
			page.Items = append(page.Items, unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": fmt.Sprintf("cm-%d-%d", n, i), "namespace": "x", "resourceVersion": "7"},
				"data":     map[string]any{"k": "v"},
			}})
		}
		page.SetResourceVersion(fmt.Sprint(100 + n))
		if n < 3 {
			page.SetContinue(fmt.Sprintf("token-%d", n))
		}
		return page, nil
	}
	got, err := listSnapshots(context.Background(), list, metav1.ListOptions{ResourceVersion: "0", LabelSelector: "a=b"}, snapshot.NewBuilder(false).Transform(false))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Items) != 6 || got.ResourceVersion != "101" || got.Continue != "" {
		t.Fatalf("list: %d items, rv %s, continue %q", len(got.Items), got.ResourceVersion, got.Continue)
	}
	if got.Items[5].Name != "cm-3-1" || got.Items[5].NumLeaves() != 1 {
		t.Fatalf("last item %+v", got.Items[5])
	}
	if len(calls) != 3 || calls[0].Limit != listPage || calls[0].ResourceVersion != "" ||
		calls[1].Continue != "token-1" || calls[1].ResourceVersion != "" || calls[2].LabelSelector != "a=b" {
		t.Fatalf("requests %+v", calls)
	}
	// What the reflector does with it.
	if _, err := meta.ListAccessor(got); err != nil {
		t.Fatal(err)
	}
	items, err := meta.ExtractListWithAlloc(got)
	if err != nil || len(items) != 6 {
		t.Fatalf("extract: %d items, %v", len(items), err)
	}
}
