package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StateKinds is what one workspace's state manages, by resource: the
// planner writes it to the State bucket whenever it reads a new version of
// the state, and a watcher configured with watch.resources [auto] watches
// what every workspace of its cluster reports. The watcher so learns the
// kinds in state without credentials for the state bucket (state holds
// secret values).
type StateKinds struct {
	Workspace string `json:"workspace"`
	Cluster   string `json:"cluster"`
	// Resources are the kinds of the objects in state, as
	// "kind.group" in lower case ("deployment.apps", "configmap"), which
	// discovery resolves like kubectl does.
	Resources []string  `json:"resources"`
	Serial    int64     `json:"serial"`
	UpdatedAt time.Time `json:"updated_at"`
}

const stateKindsPrefix = "statekinds"

// StateKindsKey is the State bucket key of a workspace's StateKinds.
func StateKindsKey(workspace string) string { return Key(stateKindsPrefix, workspace) }

// KindName is the lower-case "kind.group" name of a kind, resolvable by
// discovery ("deployment.apps"; "configmap" for the core group).
func KindName(group, kind string) string {
	n := strings.ToLower(kind)
	if group != "" {
		n += "." + group
	}
	return n
}

// PutStateKinds stores sk (its resources sorted and deduplicated) unless
// the stored record already says the same.
func PutStateKinds(ctx context.Context, kv jetstream.KeyValue, sk StateKinds) error {
	slices.Sort(sk.Resources)
	sk.Resources = slices.Compact(sk.Resources)
	var cur StateKinds
	_, ok, err := GetJSON(ctx, kv, StateKindsKey(sk.Workspace), &cur)
	if err != nil {
		return err
	}
	if ok && cur.Cluster == sk.Cluster && slices.Equal(cur.Resources, sk.Resources) {
		return nil
	}
	_, err = PutJSON(ctx, kv, StateKindsKey(sk.Workspace), sk)
	return err
}

// WatchStateKinds calls fn with the resources every workspace of cluster
// reports, now and whenever a record changes, until ctx ends. fn gets the
// union over the workspaces, sorted.
func WatchStateKinds(ctx context.Context, kv jetstream.KeyValue, cluster string, fn func([]string)) error {
	w, err := kv.Watch(ctx, Key(stateKindsPrefix)+".>")
	if err != nil {
		return fmt.Errorf("watch state kinds: %w", err)
	}
	defer func() { _ = w.Stop() }()
	byWorkspace := map[string][]string{}
	initial := true
	report := func() {
		var all []string
		for _, r := range byWorkspace {
			all = append(all, r...)
		}
		slices.Sort(all)
		fn(slices.Compact(all))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch state kinds: the watcher stopped")
			}
			if e == nil { // the end of the initial values
				initial = false
				report()
				continue
			}
			var sk StateKinds
			if e.Operation() != jetstream.KeyValuePut || json.Unmarshal(e.Value(), &sk) != nil || sk.Cluster != cluster {
				delete(byWorkspace, e.Key())
			} else {
				byWorkspace[e.Key()] = sk.Resources
			}
			if !initial {
				report()
			}
		}
	}
}
