package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
	"github.com/driftgate/driftgate/test/natslab"
)

// Fault is one row: Inject breaks something while work is in flight and
// returns when it is healed (note: what the row adds to the table).
type Fault struct {
	Name   string
	Inject func(ctx context.Context, h *Harness, long bool) (healed time.Time, note string, err error)
}

func dur(long bool, l, s time.Duration) time.Duration {
	if long {
		return l
	}
	return s
}

// hold waits out a fault's length: the fault lasts this long by definition.
func hold(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// until polls cond (a fact) every 200ms for at most limit.
func until(ctx context.Context, limit time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func (h *Harness) streamInfo(ctx context.Context) *jetstream.StreamInfo {
	ictx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := h.Admin.JS.Stream(ictx, events.StreamName)
	if err != nil {
		return nil
	}
	info, err := s.Info(ictx)
	if err != nil {
		return nil
	}
	return info
}

// clusterHealed waits until every node runs, the meta group and the
// stream have a leader and every stream replica is current.
func (h *Harness) clusterHealed(ctx context.Context) (time.Time, error) {
	if err := h.NATS.WaitReady(ctx); err != nil {
		return time.Time{}, err
	}
	err := until(ctx, 3*time.Minute, "the stream's replicas current", func() bool {
		info := h.streamInfo(ctx)
		if info == nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	})
	return time.Now(), err
}

// inFlight waits until work is in flight: an object.changed published now.
func (h *Harness) inFlight(ctx context.Context) error {
	_, err := h.Rec.Wait(ctx, time.Now(), 3*time.Minute, "an object.changed (work in flight)", func(r Record) bool {
		_, ok := r.Data.(*events.ObjectChanged)
		return ok
	})
	return err
}

// childOf returns the pid of a process named comm whose parent is pid.
func childOf(pid int, comm string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.HasPrefix(s, e.Name()+" ("+comm+")") {
			continue
		}
		f := strings.Fields(s[i+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return c
		}
	}
	return 0
}

func tofuChild(procs []*Proc) (*Proc, int) {
	for _, p := range procs {
		if pid := p.Pid(); pid != 0 {
			if c := childOf(pid, "tofu"); c != 0 {
				return p, c
			}
		}
	}
	return nil, 0
}

func killNode(ctx context.Context, h *Harness, nd *natslab.Node, newLeader func() bool) (time.Time, string, error) {
	nd.Kill()
	if err := until(ctx, time.Minute, "a new leader", newLeader); err != nil {
		_ = nd.Start()
		return time.Time{}, "", err
	}
	if err := nd.Start(); err != nil {
		return time.Time{}, "", err
	}
	t, err := h.clusterHealed(ctx)
	return t, "killed " + nd.Name, err
}

// Faults are the rows, the cheapest and most telling first.
var Faults = []Fault{
	{"baseline (no fault)", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		return time.Now(), "", nil
	}},
	{"kill -9 stream leader", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		info := h.streamInfo(ctx)
		if info == nil || info.Cluster == nil {
			return time.Time{}, "", fmt.Errorf("no stream info")
		}
		old := info.Cluster.Leader
		return killNode(ctx, h, h.NATS.Node(old), func() bool {
			i := h.streamInfo(ctx)
			return i != nil && i.Cluster != nil && i.Cluster.Leader != "" && i.Cluster.Leader != old
		})
	}},
	{"kill -9 meta leader", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		old := h.NATS.MetaLeader(ctx)
		if old == nil {
			return time.Time{}, "", fmt.Errorf("no meta leader")
		}
		return killNode(ctx, h, old, func() bool {
			l := h.NATS.MetaLeader(ctx)
			return l != nil && l != old
		})
	}},
	{"rolling restart of 3 NATS nodes", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		for _, nd := range h.NATS.Nodes {
			if err := h.inFlight(ctx); err != nil {
				return time.Time{}, "", err
			}
			nd.Stop()
			if err := nd.Start(); err != nil {
				return time.Time{}, "", err
			}
			if _, err := h.clusterHealed(ctx); err != nil {
				return time.Time{}, "", err
			}
		}
		return time.Now(), "", nil
	}},
	{"planner kill -9 mid-plan", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		var p *Proc
		var tofu int
		if err := until(ctx, 5*time.Minute, "a planner's tofu", func() bool { p, tofu = tofuChild(h.Replicas("planner")); return p != nil }); err != nil {
			return time.Time{}, "", err
		}
		p.Kill9()
		if err := p.Start(); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), fmt.Sprintf("%s killed with tofu pid %d running", p.Name, tofu), nil
	}},
	{"S3 down during an import", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if _, err := h.Rec.Wait(ctx, time.Now(), 3*time.Minute, "import.started", func(r Record) bool {
			im, ok := r.Data.(*events.Import)
			return ok && im.Verb() == events.ImportStarted
		}); err != nil {
			return time.Time{}, "", err
		}
		if err := h.Lab.StopS3(); err != nil {
			return time.Time{}, "", err
		}
		d := dur(long, 30*time.Second, 10*time.Second)
		_ = hold(ctx, d)
		if err := h.Lab.StartS3(ctx); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), "down " + d.String(), nil
	}},
	{"importer kill -9 between import and verify", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if _, err := h.Rec.Wait(ctx, time.Now(), 3*time.Minute, "import.started", func(r Record) bool {
			im, ok := r.Data.(*events.Import)
			return ok && im.Verb() == events.ImportStarted
		}); err != nil {
			return time.Time{}, "", err
		}
		var p *Proc
		var tofu int
		if err := until(ctx, 2*time.Minute, "the importer's tofu", func() bool { p, tofu = tofuChild(h.Replicas("importer")); return p != nil }); err != nil {
			return time.Time{}, "", err
		}
		pid := p.Pid()
		// the import's tofu exits; the verify comes next: kill then.
		_ = until(ctx, 2*time.Minute, "the import's tofu to exit", func() bool { return childOf(pid, "tofu") != tofu })
		p.Kill9()
		if err := p.Start(); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), fmt.Sprintf("%s killed after its tofu %d exited", p.Name, tofu), nil
	}},
	{"kube-apiserver down", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		if err := h.Lab.StopAPIServer(); err != nil {
			return time.Time{}, "", err
		}
		d := dur(long, 60*time.Second, 10*time.Second)
		_ = hold(ctx, d)
		if err := h.Lab.StartAPIServer(ctx); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), "down " + d.String(), nil
	}},
	{"webhook sink 503s", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		h.Hook.SetFailing(true)
		d := dur(long, 5*time.Minute, 10*time.Second)
		_ = hold(ctx, d)
		h.Hook.SetFailing(false)
		h.Hook.mu.Lock()
		n := h.Hook.refused
		h.Hook.mu.Unlock()
		return time.Now(), fmt.Sprintf("503 for %s (%d refused posts so far)", d, n), nil
	}},
	{"poison messages (nats pub)", poison},
	{"notifier kill -9 mid-delivery", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		r, err := h.Rec.Wait(ctx, time.Now(), 5*time.Minute, "a routed event", routed)
		if err != nil {
			return time.Time{}, "", err
		}
		for _, p := range h.Replicas("notifier") {
			p.Kill9()
			if err := p.Start(); err != nil {
				return time.Time{}, "", err
			}
		}
		return time.Now(), fmt.Sprintf("both notifiers killed after %s (delivered %d times by then)", r.Type[len("dev.driftgate."):], h.Hook.Deliveries(r.ID)), nil
	}},
	{"watcher leader kill -9", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		leases, err := h.Lab.Kube().CoordinationV1().Leases("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return time.Time{}, "", err
		}
		victim := h.Replicas("watcher")[0]
		holder := ""
		for _, l := range leases.Items {
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
				for _, p := range h.Replicas("watcher") {
					if strings.HasSuffix(holder, "-"+strconv.Itoa(p.Pid())) {
						victim = p
					}
				}
			}
		}
		victim.Kill9()
		if err := victim.Start(); err != nil {
			return time.Time{}, "", err
		}
		return time.Now(), fmt.Sprintf("%s killed (lease holder %q)", victim.Name, holder), nil
	}},
	{"one NATS node stopped", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		nd := h.NATS.Nodes[2]
		nd.Stop()
		d := dur(long, 60*time.Second, 10*time.Second)
		_ = hold(ctx, d)
		if err := nd.Start(); err != nil {
			return time.Time{}, "", err
		}
		t, err := h.clusterHealed(ctx)
		return t, nd.Name + " stopped " + d.String(), err
	}},
	{"all 3 NATS nodes restarted at once", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		if err := h.inFlight(ctx); err != nil {
			return time.Time{}, "", err
		}
		var stopped sync.WaitGroup
		for _, nd := range h.NATS.Nodes {
			stopped.Go(nd.Stop) // each returns once its process is gone
		}
		stopped.Wait()
		for _, nd := range h.NATS.Nodes {
			if err := nd.Start(); err != nil {
				return time.Time{}, "", err
			}
		}
		t, err := h.clusterHealed(ctx)
		return t, "", err
	}},
	{"planner data dir full (disk guard)", func(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
		diskFull.mu.Lock()
		diskFull.on = true
		diskFull.mu.Unlock()
		for _, p := range h.Replicas("planner") {
			p.Stop()
			if err := p.Start(); err != nil {
				return time.Time{}, "", err
			}
		}
		d := dur(long, 60*time.Second, 10*time.Second)
		_ = hold(ctx, d)
		diskFull.mu.Lock()
		diskFull.on = false
		diskFull.mu.Unlock()
		for _, p := range h.Replicas("planner") {
			p.Stop()
			if err := p.Start(); err != nil {
				return time.Time{}, "", err
			}
		}
		return time.Now(), "min_free_bytes above the free space for " + d.String(), nil
	}},
}

// poison publishes hostile messages with the stock nats CLI as the watcher
// (the one user allowed on driftgate.object.changed.>) and waits for each
// to be dead-lettered with its reason.
func poison(ctx context.Context, h *Harness, long bool) (time.Time, string, error) {
	tools, err := lab.FindTools()
	if err != nil {
		return time.Time{}, "", err
	}
	if err := tools.Check(tools.NATSCLI); err != nil {
		return time.Time{}, "", fmt.Errorf("the nats CLI is missing (make tools builds it): %w", err)
	}
	good, err := events.New("driftgate/watcher/lab", &events.ObjectChanged{Object: events.ObjectRef{Cluster: "lab", Version: "v1",
		Kind: "ConfigMap", Namespace: ns, Name: "poison", UID: "00000000-0000-4000-8000-00000000c0de"}, Resource: "configmaps", Change: "updated", ResourceVersion: "1", ObservedAt: time.Now()})
	if err != nil {
		return time.Time{}, "", err
	}
	env, _ := json.Marshal(good)
	hostile := strings.Replace(string(env), `"name":"poison"`, `"name":"../../../etc/passwd\u0000$(id)"`, 1)
	wrongVersion := strings.Replace(string(env), events.TypeObjectChanged, "dev.driftgate.object.changed.v9", 1)
	wrongType := strings.Replace(string(env), `"resource_version":"1"`, `"resource_version":{"a":[1,2]}`, 1)
	payloads := map[string]string{
		"unparseable":   `{"specversion": "1.0", "data": {`,
		"wrong-types":   wrongType,
		"huge":          `{"specversion":"1.0","data":"` + strings.Repeat("A", 900*1024) + `"}`,
		"wrong-version": wrongVersion,
		"hostile-name":  hostile,
	}
	start := time.Now()
	var subjects []string
	for _, name := range slices.Sorted(maps.Keys(payloads)) {
		body := payloads[name]
		subject := "driftgate.object.changed.lab.v1.ConfigMap." + ns + ".poison-" + name
		f, err := os.CreateTemp("", "poison")
		if err != nil {
			return time.Time{}, "", err
		}
		_, _ = f.WriteString(body)
		f.Close()
		in, _ := os.Open(f.Name())
		cmd := exec.CommandContext(ctx, tools.NATSCLI, "--server", h.NATS.Nodes[1].URL, "--user", "watcher",
			"--password", h.NATS.Passwords["watcher"], "--timeout", "5s", "pub", subject, "--force-stdin", "--jetstream")
		cmd.Stdin = in
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+os.TempDir(), "HOME="+os.TempDir())
		out, err := cmd.CombinedOutput()
		in.Close()
		os.Remove(f.Name())
		if err != nil {
			return time.Time{}, "", fmt.Errorf("nats pub %s: %v\n%s", name, err, out)
		}
		subjects = append(subjects, subject)
	}
	dead := 0
	var reasons []string
	for _, s := range subjects {
		r, err := h.Rec.Wait(ctx, start, 2*time.Minute, "the dead letter of "+s, func(r Record) bool {
			return events.IsDeadLetter(r.Subject) && len(r.Header[events.HeaderOrigSubj]) > 0 && r.Header[events.HeaderOrigSubj][0] == s
		})
		if err == nil {
			dead++
			reason := r.Header[events.HeaderReason][0]
			if len(reason) > 70 { // the reason quotes the body: the table keeps its start
				reason = reason[:70] + "…"
			}
			reasons = append(reasons, s[strings.LastIndex(s, "poison-")+7:]+": "+reason)
		} else {
			reasons = append(reasons, s[strings.LastIndex(s, "poison-")+7:]+": not dead-lettered")
		}
	}
	return time.Now(), fmt.Sprintf("%d/%d dead-lettered (%s)", dead, len(subjects), strings.Join(reasons, "; ")), nil
}
