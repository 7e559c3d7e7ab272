package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

// TestNotifierLab runs `driftgate run` (watcher, planner, importer and
// notifier on the embedded JetStream, as a separate process) against the lab
// with OpenTofu and examples/marketplace, with a Slack-format receiver and a
// signed-webhook receiver on loopback, and checks what reaches them when real
// things happen in the cluster and the state:
//
//   - an object dropped from the state (tofu state rm, as hack/demo.sh does)
//     is alerted as unimported; approving it with `driftgate approve` leads to
//     an import.succeeded alert;
//   - a patch of the Deployment by a field manager is one signed
//     drift.detected and one Slack message naming the workspace, address,
//     class, path and manager; reverting it is one resolution, once;
//   - a Secret changed live (and the one in state) never shows its value in
//     any request either receiver got;
//   - the API server stopped and started again is one "unreachable" alert
//     and one recovery.
//
// Every sink delivers in stream order, so once the last alert (the recovery)
// has arrived, every earlier event has been either alerted or dropped for
// good: the "exactly once" counts at the end need no waiting.
func TestNotifierLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	const (
		ws       = "marketplace"
		ns       = "shop"
		lostAddr = "kubernetes_config_map.marketplace"
		depAddr  = "kubernetes_deployment.marketplace"
		secAddr  = "kubernetes_secret.marketplace"
		manager  = "kubectl-patch"
		hookKey  = "whsec-e2e-7c41f0"
		// Canaries: the Secret's value in state (applied) and the one
		// written live; neither may reach a receiver.
		canaryState = "canary-in-state-5e1d9a"
		canaryLive  = "canary-live-edit-b27c04"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// Build the binary while the lab starts.
	bin := filepath.Join(t.TempDir(), "driftgate")
	built := make(chan error, 1)
	go func() {
		out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %w\n%s", err, out)
		}
		built <- err
	}()
	l := lab.Start(t)
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	w := l.NewWorkspace(t, "../../examples/marketplace", lab.Tofu, "e2e/marketplace.tfstate")
	dbURL := "postgresql://marketplace:" + canaryState + "@db:5432/marketplace"
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("database_url = %q\n", dbURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	// The import a CI runner lost: the ConfigMap stays live.
	if err := w.TF.StateRm(ctx, lostAddr); err != nil {
		t.Fatal(err)
	}

	slk := newLabReceiver(t, checkSlackMessage)
	hook := newLabReceiver(t, verifySignature([]byte(hookKey)))
	var bc strings.Builder
	// Plain values, as examples/marketplace/driftgate.yaml has them; the S3
	// endpoint comes from the environment (AWS_ENDPOINT_URL_S3), as there.
	for k, v := range l.BackendConfig(lab.Tofu, w.Key) {
		if strings.HasPrefix(v, "{") {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil {
			v = u
		}
		fmt.Fprintf(&bc, "      %s: %q\n", k, v)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "driftgate.yaml")
	yml := fmt.Sprintf(`nats:
  stream_max_age: 24h
clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [deployments.apps, services, configmaps, secrets, namespaces, serviceaccounts,
              roles.rbac.authorization.k8s.io, rolebindings.rbac.authorization.k8s.io]
  namespaces: [%s]
  probe_interval: 1s
  probe_failures: 2
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    full_plan_interval: 10m
    namespaces: [%s]
    high_risk_kinds: [statefulsets.apps, persistentvolumeclaims, clusters.postgresql.cnpg.io]
    ignore:
      - {resource: deployments.apps, paths: [spec.replicas], managers: [horizontal-pod-autoscaler]}
    import: {approval: manual}
notify:
  digest_window: 5s
  sinks:
    - {name: ops-slack, slack: {webhook_url_env: SLACK_WEBHOOK_URL}}
    - {name: audit-hook, webhook: {url: %q, secret_env: DRIFTGATE_WEBHOOK_SECRET}}
  routes:
    - {match: {types: [drift.detected, drift.resolved, import.*, cluster.health]}, sinks: [ops-slack, audit-hook]}
`, l.Kubeconfig, ns, ws, w.Dir, l.BinaryPath(lab.Tofu), bc.String(), ns, hook.srv.URL+"/hook")
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	listen, httpAddr := freePort(t), freePort(t)
	natsURL := "nats://" + listen
	env := append(os.Environ(), l.Env()...)
	env = append(env,
		"SLACK_WEBHOOK_URL="+slk.srv.URL+"/services/T0E2E/B0E2E/e2eslacktoken",
		"DRIFTGATE_WEBHOOK_SECRET="+hookKey,
		"DRIFTGATE_APPROVER_TOKEN=approver-e2e-31f8",
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), // where approve finds run's NATS token
	)
	// Registered after lab.Start's cleanup, so it runs first: the pipeline
	// stops before the lab does.
	proc := startRun(t, bin, cfg, dir, listen, httpAddr, env)
	exited := proc.exited

	// waitFor polls cond until it holds; the deadline is a liveness bound.
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			select {
			case <-exited:
				t.Fatalf("driftgate run exited while waiting for %s", what)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s", limit, what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// hookEvent waits for the first webhook event that match accepts.
	hookEvent := func(what string, limit time.Duration, match func(hookEv) bool) hookEv {
		t.Helper()
		var got hookEv
		waitFor(what+" at the webhook", limit, func() bool {
			for _, e := range hook.events(t) {
				if match(e) {
					got = e
					return true
				}
			}
			return false
		})
		return got
	}
	// slackAlert waits for the first Slack message whose text has every word.
	slackAlert := func(what string, limit time.Duration, words ...string) string {
		t.Helper()
		var got string
		waitFor(what+" in Slack", limit, func() bool {
			for _, text := range slk.slackTexts(t) {
				if containsAll(text, words...) {
					got = text
					return true
				}
			}
			return false
		})
		return got
	}
	start := time.Now()
	waitFor("driftgate run ready", 2*time.Minute, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Logf("driftgate run ready after %v", time.Since(start).Round(time.Millisecond))

	// 1. The lost import: unimported, requested, approved, imported.
	step := time.Now()
	unimp := hookEvent("drift.detected unimported", 4*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftDetected && f != nil && f.Class == events.ClassUnimported && f.Address == lostAddr
	}).finding()
	if unimp.ImportID != ns+"/marketplace-config" || unimp.Workspace != ws {
		t.Errorf("unimported finding: %+v", unimp)
	}
	// A single finding or a digest (whose lines carry no ids).
	slackAlert("the unimported alert", time.Minute, "unimported", lostAddr)
	hookEvent("import.requested", 2*time.Minute, func(e hookEv) bool {
		return e.typ == events.TypeImportRequested && e.importFinding() == unimp.ID
	})
	t.Logf("unimported alerted and requested after %v", time.Since(step).Round(time.Millisecond))
	step = time.Now()
	approve := exec.Command(bin, "approve", unimp.ID, "--reason", "e2e: adopt the ConfigMap the runner lost", "--by", "e2e-test",
		"--nats-url", natsURL, "--timeout", "2m")
	approve.Env = env
	if out, err := approve.CombinedOutput(); err != nil {
		t.Fatalf("driftgate approve: %v\n%s", err, out)
	}
	hookEvent("import.succeeded", 4*time.Minute, func(e hookEv) bool {
		if e.importFinding() != unimp.ID {
			return false
		}
		if e.typ == events.TypeImportFailed || e.typ == events.TypeImportRolledBack {
			t.Fatalf("the import did not succeed: %s", e.raw)
		}
		return e.typ == events.TypeImportSucceeded
	})
	slackAlert("the import outcome", time.Minute, "Import succeeded", lostAddr, ws)
	t.Logf("import.succeeded alerted %v after the approval", time.Since(step).Round(time.Millisecond))
	// The import changed the state: the planner plans the object again and
	// the unimported finding resolves.
	hookEvent("drift.resolved (the imported ConfigMap)", 2*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftResolved && f != nil && f.ID == unimp.ID
	})
	slackAlert("the resolution of the unimported finding", time.Minute, "Resolved", lostAddr, unimp.ID)
	t.Logf("unimported finding resolved %v after the approval", time.Since(step).Round(time.Millisecond))

	// 2. A live change by a field manager.
	step = time.Now()
	patchLab(ctx, t, l, "deployments", ns, "marketplace", manager, `{"spec":{"replicas":5}}`)
	dep := hookEvent("drift.detected changed (Deployment)", 3*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftDetected && f != nil && f.Class == events.ClassChanged && f.Address == depAddr
	})
	depF := dep.finding()
	if !slices.Contains(depF.Paths, "spec.replicas") || !hasManager(depF.Attribution, manager) || depF.Workspace != ws {
		t.Errorf("changed finding: paths %v, attribution %+v, workspace %q", depF.Paths, depF.Attribution, depF.Workspace)
	}
	if dep.contentType != "application/cloudevents+json" {
		t.Errorf("the change came as %s, want one structured event", dep.contentType)
	}
	slackAlert("the Deployment's drift", time.Minute, "Drift: changed "+depAddr, ws, "changed", "spec.replicas", manager, depF.ID)
	t.Logf("changed alerted %v after the patch", time.Since(step).Round(time.Millisecond))

	// 3. Revert it; at the same time change the Secret live to a canary.
	step = time.Now()
	patchLab(ctx, t, l, "deployments", ns, "marketplace", manager, `{"spec":{"replicas":2}}`)
	liveURL := "postgresql://marketplace:" + canaryLive + "@db:5432/marketplace"
	patchLab(ctx, t, l, "secrets", ns, "marketplace-db", "kubectl-edit",
		`{"data":{"DATABASE_URL":"`+base64.StdEncoding.EncodeToString([]byte(liveURL))+`"}}`)
	hookEvent("drift.resolved (Deployment)", 3*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftResolved && f != nil && f.ID == depF.ID
	})
	slackAlert("the Deployment's resolution", time.Minute, "Resolved", depAddr, depF.ID)
	secF := hookEvent("drift.detected changed (Secret)", 3*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftDetected && f != nil && f.Class == events.ClassChanged && f.Address == secAddr
	}).finding()
	slackAlert("the Secret's drift", time.Minute, "changed", secAddr, secF.ID)
	t.Logf("resolution and Secret drift alerted %v after the patches", time.Since(step).Round(time.Millisecond))
	step = time.Now()
	patchLab(ctx, t, l, "secrets", ns, "marketplace-db", "kubectl-edit",
		`{"data":{"DATABASE_URL":"`+base64.StdEncoding.EncodeToString([]byte(dbURL))+`"}}`)
	hookEvent("drift.resolved (Secret)", 3*time.Minute, func(e hookEv) bool {
		f := e.finding()
		return e.typ == events.TypeDriftResolved && f != nil && f.ID == secF.ID
	})
	t.Logf("Secret resolution alerted %v after the revert", time.Since(step).Round(time.Millisecond))

	// 4. The API server goes away and comes back.
	step = time.Now()
	apiHealth := func(status string) func(hookEv) bool {
		return func(e hookEv) bool {
			h, ok := e.data.(*events.ClusterHealth)
			return ok && h.Component == events.ComponentAPIServer && h.Condition == "Unreachable" && h.Status == status
		}
	}
	if err := l.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	hookEvent("API server unreachable", 2*time.Minute, apiHealth("True"))
	slackAlert("API server unreachable", time.Minute, "apiserver", "Unreachable=True", "lab")
	if err := l.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	hookEvent("API server recovered", 2*time.Minute, apiHealth("False"))
	slackAlert("API server recovered", time.Minute, "Recovered", "apiserver", "Unreachable=False")
	t.Logf("outage and recovery alerted within %v", time.Since(step).Round(time.Millisecond))

	var seen []string
	for _, e := range hook.events(t) {
		seen = append(seen, e.data.Summary())
	}
	t.Logf("webhook events, in order:\n  %s", strings.Join(seen, "\n  "))

	// Everything before the recovery has been delivered or dropped for good
	// (each sink is one ordered queue): count.
	count := func(typ, findingID string) int {
		n := 0
		for _, e := range hook.events(t) {
			if e.typ != typ {
				continue
			}
			if f := e.finding(); (f != nil && f.ID == findingID) || e.importFinding() == findingID {
				n++
			}
		}
		return n
	}
	slackCount := func(words ...string) int {
		n := 0
		for _, text := range slk.slackTexts(t) {
			if containsAll(text, words...) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"webhook drift.detected for the unimported ConfigMap", count(events.TypeDriftDetected, unimp.ID), 1},
		{"Slack unimported alert", slackCount("Drift: unimported " + lostAddr), 1},
		{"webhook drift.resolved for the unimported ConfigMap", count(events.TypeDriftResolved, unimp.ID), 1},
		{"Slack resolution of the unimported ConfigMap", slackCount("Resolved", lostAddr, unimp.ID), 1},
		{"webhook import.requested", count(events.TypeImportRequested, unimp.ID), 1},
		{"webhook import.succeeded", count(events.TypeImportSucceeded, unimp.ID), 1},
		{"Slack import succeeded", slackCount("Import succeeded", lostAddr), 1},
		{"webhook drift.detected for the Deployment", count(events.TypeDriftDetected, depF.ID), 1},
		{"webhook drift.resolved for the Deployment", count(events.TypeDriftResolved, depF.ID), 1},
		{"Slack drift for the Deployment", slackCount("Drift: changed "+depAddr, depF.ID), 1},
		{"Slack resolution of the Deployment", slackCount("Resolved", depAddr, depF.ID), 1},
		{"webhook drift.detected for the Secret", count(events.TypeDriftDetected, secF.ID), 1},
		{"webhook drift.resolved for the Secret", count(events.TypeDriftResolved, secF.ID), 1},
		{"Slack resolution of the Secret", slackCount("Resolved", secAddr, secF.ID), 1},
		// The apiserver's own health (the watcher's probe); the planner may
		// also report its workspace Unreachable when a plan falls in the
		// outage, which is its own alert.
		{"Slack API server unreachable", slackCount("apiserver Unreachable=True"), 1},
		{"Slack API server recovered", slackCount("Recovered", "apiserver Unreachable=False"), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	for name, rc := range map[string]*labReceiver{"slack": slk, "webhook": hook} {
		reqs, rejected := rc.snapshot()
		if len(rejected) > 0 {
			t.Errorf("%s receiver rejected %d requests, e.g. %s", name, len(rejected), rejected[0])
		}
		for _, rq := range reqs {
			for _, leak := range []string{canaryState, canaryLive,
				base64.StdEncoding.EncodeToString([]byte(dbURL)), base64.StdEncoding.EncodeToString([]byte(liveURL)),
				hookKey, "e2eslacktoken"} {
				if bytes.Contains(rq.body, []byte(leak)) {
					t.Errorf("a request to the %s receiver carries a secret (%q…):\n%s", name, leak[:8], rq.body)
				}
			}
		}
		t.Logf("%s receiver: %d requests accepted", name, len(reqs))
	}
	if b, err := os.ReadFile(proc.log); err == nil {
		for _, leak := range []string{canaryState, canaryLive, hookKey, "e2eslacktoken"} {
			if bytes.Contains(b, []byte(leak)) {
				t.Errorf("driftgate's log carries a secret (%q…)", leak[:8])
			}
		}
	}
}

// patchLab applies a merge patch as the field manager.
func patchLab(ctx context.Context, t *testing.T, l *lab.Lab, resource, ns, name, manager, body string) {
	t.Helper()
	opts := metav1.PatchOptions{FieldManager: manager}
	var err error
	switch resource {
	case "deployments":
		_, err = l.Kube().AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	case "secrets":
		_, err = l.Kube().CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, []byte(body), opts)
	default:
		err = fmt.Errorf("patchLab: no %s", resource)
	}
	if err != nil {
		t.Fatalf("patch %s %s/%s: %v", resource, ns, name, err)
	}
}

func hasManager(as []events.Attribution, manager string) bool {
	return slices.ContainsFunc(as, func(a events.Attribution) bool { return a.Manager == manager })
}

func containsAll(s string, words ...string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// labRequest is one request a receiver took in.
type labRequest struct {
	header http.Header
	body   []byte
}

// labReceiver is a real HTTP endpoint that checks each request as Slack or a
// webhook receiver would, answers 401 to one that fails the check and 200
// otherwise, and keeps what it accepted.
type labReceiver struct {
	srv      *httptest.Server
	check    func(r *http.Request, body []byte) error
	mu       sync.Mutex
	accepted []labRequest
	rejected []string
}

func newLabReceiver(t *testing.T, check func(r *http.Request, body []byte) error) *labReceiver {
	rc := &labReceiver{check: check}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err == nil {
			err = rc.check(r, body)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err != nil {
			rc.rejected = append(rc.rejected, err.Error())
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		rc.accepted = append(rc.accepted, labRequest{header: r.Header.Clone(), body: body})
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *labReceiver) snapshot() ([]labRequest, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.accepted), slices.Clone(rc.rejected)
}

// hookEv is one CloudEvent a webhook request carried.
type hookEv struct {
	typ, id     string
	data        events.Data
	raw         []byte
	contentType string
}

func (e hookEv) finding() *events.Finding {
	switch d := e.data.(type) {
	case *events.DriftDetected:
		return &d.Finding
	case *events.DriftResolved:
		return &d.Finding
	}
	return nil
}

func (e hookEv) importFinding() string {
	if im, ok := e.data.(*events.Import); ok {
		return im.FindingID
	}
	return ""
}

// events decodes every accepted webhook request: one structured event, or a
// batch (a digest).
func (rc *labReceiver) events(t *testing.T) []hookEv {
	t.Helper()
	reqs, _ := rc.snapshot()
	var out []hookEv
	for _, rq := range reqs {
		ct := rq.header.Get("Content-Type")
		var raws []json.RawMessage
		switch ct {
		case "application/cloudevents+json":
			raws = []json.RawMessage{rq.body}
		case "application/cloudevents-batch+json":
			if err := json.Unmarshal(rq.body, &raws); err != nil {
				t.Fatalf("webhook batch: %v", err)
			}
		default:
			t.Fatalf("webhook content type %q", ct)
		}
		for _, raw := range raws {
			e, d, err := events.Decode(raw)
			if err != nil {
				t.Fatalf("webhook body is not a driftgate CloudEvent: %v\n%s", err, raw)
			}
			out = append(out, hookEv{typ: e.Type(), id: e.ID(), data: d, raw: raw, contentType: ct})
		}
	}
	return out
}

// slackTexts is every accepted Slack message as the text a person reads.
func (rc *labReceiver) slackTexts(t *testing.T) []string {
	t.Helper()
	reqs, _ := rc.snapshot()
	var out []string
	for _, rq := range reqs {
		m, err := parseSlack(rq.body)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		b.WriteString(m.Text + "\n")
		for _, bl := range m.Blocks {
			if bl.Text != nil {
				b.WriteString(bl.Text.Text + "\n")
			}
			for _, f := range bl.Fields {
				b.WriteString(f.Text + "\n")
			}
			for _, e := range bl.Elements {
				b.WriteString(e.label().Text + "\n")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// slackWebhookMsg is the part of an incoming-webhook message with Block Kit
// blocks that the receiver checks.
type slackWebhookMsg struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type     string         `json:"type"`
		Text     *slackText     `json:"text"`
		Fields   []slackText    `json:"fields"`
		Elements []slackElement `json:"elements"`
	} `json:"blocks"`
}

// slackElement is an element of a context block (a text object: text is a
// string) or of an actions block (a button: text is a plain_text object).
type slackElement struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"`
	ActionID string          `json:"action_id"`
	Style    string          `json:"style"`
}

// label is the text of the element: a text object's own, a button's label.
func (e slackElement) label() slackText {
	var s string
	if json.Unmarshal(e.Text, &s) == nil {
		return slackText{Type: e.Type, Text: s}
	}
	var x slackText
	_ = json.Unmarshal(e.Text, &x)
	return x
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func parseSlack(body []byte) (*slackWebhookMsg, error) {
	var m slackWebhookMsg
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a Slack message: %w", err)
	}
	return &m, nil
}

// checkSlackMessage rejects what Slack's incoming webhooks would: not JSON,
// no fallback text, no blocks or too many, unknown block types, a header
// that is not plain text, an empty section, text objects of unknown types,
// buttons without a label or an action id.
func checkSlackMessage(r *http.Request, body []byte) error {
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Errorf("content type %q", ct)
	}
	m, err := parseSlack(body)
	if err != nil {
		return err
	}
	if m.Text == "" || len(m.Blocks) == 0 || len(m.Blocks) > 50 {
		return fmt.Errorf("text %q, %d blocks", m.Text, len(m.Blocks))
	}
	textOK := func(x slackText) bool {
		return (x.Type == "plain_text" || x.Type == "mrkdwn") && x.Text != "" && len([]rune(x.Text)) <= 3000
	}
	for i, b := range m.Blocks {
		ok := false
		switch b.Type {
		case "header":
			ok = b.Text != nil && b.Text.Type == "plain_text" && textOK(*b.Text) && len([]rune(b.Text.Text)) <= 150
		case "section":
			ok = (b.Text != nil && textOK(*b.Text)) || (b.Text == nil && len(b.Fields) > 0)
			ok = ok && len(b.Fields) <= 10 && !slices.ContainsFunc(b.Fields, func(x slackText) bool { return !textOK(x) })
		case "context":
			ok = len(b.Elements) > 0 && len(b.Elements) <= 10 && !slices.ContainsFunc(b.Elements, func(e slackElement) bool { return !textOK(e.label()) })
		case "actions":
			// Buttons: a plain_text label of at most 75 characters, an
			// action_id, a style Slack knows.
			ok = len(b.Elements) > 0 && len(b.Elements) <= 25 && !slices.ContainsFunc(b.Elements, func(e slackElement) bool {
				l := e.label()
				return e.Type != "button" || l.Type != "plain_text" || !textOK(l) || len([]rune(l.Text)) > 75 || e.ActionID == "" ||
					(e.Style != "" && e.Style != "primary" && e.Style != "danger")
			})
		case "divider":
			ok = true
		}
		if !ok {
			return fmt.Errorf("block %d (%s) is not valid Block Kit", i, b.Type)
		}
	}
	return nil
}

// verifySignature is the receiver side of DESIGN.md's scheme, as
// docs/webhooks.md shows it: X-Driftgate-Signature is sha256=hex(HMAC-SHA256(
// secret, X-Driftgate-Timestamp + "." + body)), the timestamp at most five
// minutes off.
func verifySignature(secret []byte) func(r *http.Request, body []byte) error {
	return func(r *http.Request, body []byte) error {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents") {
			return fmt.Errorf("content type %q", ct)
		}
		ts := r.Header.Get("X-Driftgate-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			return errors.New("bad or old timestamp")
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Driftgate-Signature"))) {
			return errors.New("bad signature")
		}
		return nil
	}
}
