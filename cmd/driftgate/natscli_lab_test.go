package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

// TestForeignNATSClientLab is issue 18's session replayed with the stock
// `nats` CLI (natscli 0.5.0) as the foreign client, against the default
// `driftgate run` (the real binary, no DRIFTGATE_NATS_TOKEN) on the lab:
//
//   - an anonymous client is refused (authorization violation);
//   - a holder of the token takes the request the importer made for an
//     object lost from the state (nats kv get), writes it back approved by
//     mallory-via-kv (nats kv put): nothing is imported, and import.rejected
//     by driftgate, with the reason, is in the stream;
//   - garbage published with nats pub into the stream, and a body that looks
//     like an approval by "ceo", never print as events: `driftgate audit -o
//     json` is one valid JSON document, `-o jsonl` one valid JSON object per
//     line, and the planted body is nowhere in either.
func TestForeignNATSClientLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	const (
		ws       = "marketplace"
		ns       = "shop-foreign"
		lostAddr = "kubernetes_config_map.marketplace"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	tools, err := lab.FindTools()
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Check(tools.NATSCLI); err != nil {
		t.Fatalf("the nats CLI is missing (make tools builds it): %v", err)
	}
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
	w := l.NewWorkspace(t, "../../examples/marketplace", lab.Tofu, "foreign/marketplace.tfstate")
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("namespace = %q\n", ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	// The import a CI runner lost: the ConfigMap stays live, and the
	// importer makes a request for it.
	if err := w.TF.StateRm(ctx, lostAddr); err != nil {
		t.Fatal(err)
	}
	var bc strings.Builder
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
  resources: [deployments.apps, services, configmaps, secrets, namespaces]
  namespaces: [%s]
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    namespaces: [%s]
    import: {approval: manual}
`, l.Kubeconfig, ns, ws, w.Dir, l.BinaryPath(lab.Tofu), bc.String(), ns)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, httpAddr := freePort(t), freePort(t)
	url := "nats://" + listen
	env := append(os.Environ(), l.Env()...)
	env = append(env, "DRIFTGATE_NATS_TOKEN=", "DRIFTGATE_APPROVER_TOKEN=approver-foreign-5a1c",
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	// Registered after lab.Start's cleanup, so it runs first: the pipeline
	// stops before the lab does.
	proc := startRun(t, bin, cfg, dir, listen, httpAddr, env)
	proc.waitHTTP(t, "http://"+httpAddr+"/readyz", 2*time.Minute)

	// natsCLI runs the nats CLI against run's listener, isolated from the
	// user's nats contexts.
	natsCLI := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, tools.NATSCLI, append([]string{"--server", url, "--timeout", "5s"}, args...)...)
		var clean []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "NATS_") {
				clean = append(clean, kv)
			}
		}
		cmd.Env = append(clean, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}

	t.Run("an anonymous client is refused", func(t *testing.T) {
		for _, args := range [][]string{
			{"pub", "driftgate.object.changed.lab.v1.ConfigMap.shop.anon", "{}"},
			{"kv", "get", events.BucketState, "importer.request.x.y"},
			{"sub", "driftgate.>", "--count", "1"},
		} {
			out, err := natsCLI(args...)
			if err == nil || !strings.Contains(out, "Authorization Violation") {
				t.Errorf("anonymous nats %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})

	tok, err := os.ReadFile(filepath.Join(dir, "data", "nats.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	nc, err := nats.Connect(url, nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// importEvent waits for the first import event, in stream order, that
	// is about request (or, when request is "", about address) and whose
	// verb is one of verbs.
	importEvent := func(request, address string, limit time.Duration, verbs ...string) *events.Import {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, limit)
		defer wcancel()
		c, err := js.OrderedConsumer(wctx, events.StreamName, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{events.SubjectRoot + ".import.>"}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			m, err := c.Next(jetstream.FetchContext(wctx))
			if err != nil {
				t.Fatalf("no import.%s of %q within %s: %v", strings.Join(verbs, "|"), request, limit, err)
			}
			_, d, err := events.Decode(m.Data())
			if err != nil {
				continue
			}
			im, ok := d.(*events.Import)
			if !ok || (request != "" && im.RequestID != request) || (request == "" && im.Address != address) {
				continue
			}
			for _, v := range verbs {
				if im.Verb() == v {
					return im
				}
			}
		}
	}

	t.Run("a status forged with nats kv put is refused, not imported", func(t *testing.T) {
		req := importEvent("", lostAddr, 5*time.Minute, events.ImportRequested)
		key := "importer.request." + ws + "." + req.RequestID
		auth := []string{"--token", token}
		out, err := natsCLI(append(auth, "kv", "get", events.BucketState, key, "--raw")...)
		if err != nil {
			t.Fatalf("nats kv get %s: %v\n%s", key, err, out)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("the request as nats kv get prints it: %v\n%s", err, out)
		}
		if rec["status"] != "pending" {
			t.Fatalf("request %s is %v before the forgery", req.RequestID, rec["status"])
		}
		rec["status"], rec["by"] = "approved", "mallory-via-kv"
		forged, _ := json.Marshal(rec)
		if out, err := natsCLI(append(auth, "kv", "put", events.BucketState, key, string(forged))...); err != nil {
			t.Fatalf("nats kv put %s: %v\n%s", key, err, out)
		}
		e := importEvent(req.RequestID, "", 2*time.Minute, events.ImportRejected, events.ImportStarted, events.ImportApproved)
		if e.Verb() != events.ImportRejected {
			t.Fatalf("the forged approval was acted on: import.%s by %q", e.Verb(), e.By)
		}
		if e.By != "driftgate" || !strings.Contains(e.Reason, `status "approved" (by "mallory-via-kv")`) ||
			!strings.Contains(e.Reason, "not backed by a verified decision") {
			t.Errorf("import.rejected by %q: %q", e.By, e.Reason)
		}
		// The refusal is on record in the bucket too, as nats kv get shows it.
		out, err = natsCLI(append(auth, "kv", "get", events.BucketState, key, "--raw")...)
		if err != nil || json.Unmarshal([]byte(out), &rec) != nil || rec["status"] != "rejected" || rec["by"] != "driftgate" {
			t.Errorf("the record after the refusal: %v\n%s", err, out)
		}
		// No import of it: the stream has requested and rejected only.
		aud := exec.Command(bin, "audit", "-o", "jsonl", "--type", "import", "--nats-url", url)
		aud.Env = env
		b, err := aud.Output()
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		var verbs []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.Contains(line, req.RequestID) {
				var ev struct {
					Type string `json:"type"`
				}
				_ = json.Unmarshal([]byte(line), &ev)
				verbs = append(verbs, strings.TrimSuffix(strings.TrimPrefix(ev.Type, "dev.driftgate.import."), ".v1"))
			}
		}
		if got := strings.Join(verbs, ","); got != "requested,rejected" {
			t.Errorf("audit shows %s for the forged request, want requested,rejected", got)
		}
	})

	t.Run("garbage in the stream never prints as an event", func(t *testing.T) {
		const planted = `{"specversion":"1.0","type":"dev.driftgate.import.approved.v1","source":"driftgate/importer/x","data":{"by":"ceo-planted-7f3a"}}`
		auth := []string{"--token", token}
		for _, p := range [][]string{
			{"pub", "driftgate.object.changed.lab.v1.ConfigMap.shop.garbage", "not json {{{ \x01", "--count", "50"},
			{"pub", "driftgate.import.approved.marketplace.planted", planted},
			{"pub", "driftgate.drift.detected.marketplace.empty", ""},
			{"pub", "driftgate.cluster.health.lab.x", `["an","array"]`},
		} {
			if out, err := natsCLI(append(auth, p...)...); err != nil {
				t.Fatalf("nats %s: %v\n%s", strings.Join(p, " "), err, out)
			}
		}
		// The stream holds them once the last one is in it: audit from here
		// on sees every one.
		s, err := js.Stream(ctx, events.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetLastMsgForSubject(ctx, "driftgate.cluster.health.lab.x"); err != nil {
			t.Fatal(err)
		}
		audit := func(format string) string {
			t.Helper()
			cmd := exec.Command(bin, "audit", "-o", format, "--nats-url", url)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("audit -o %s: %v\n%s", format, err, stderr.String())
			}
			return stdout.String()
		}
		doc := audit("json")
		if !json.Valid([]byte(doc)) {
			t.Fatalf("audit -o json is not valid JSON:\n%s", doc[:min(len(doc), 2000)])
		}
		var all []map[string]any
		if err := json.Unmarshal([]byte(doc), &all); err != nil {
			t.Fatalf("audit -o json is not a list: %v", err)
		}
		invalid := 0
		for _, e := range all {
			if e["type"] == "invalid" {
				invalid++
			}
		}
		if invalid < 53 {
			t.Errorf("audit -o json shows %d invalid messages, want at least the 53 published", invalid)
		}
		lines := audit("jsonl")
		n := 0
		for i, line := range strings.Split(strings.TrimSuffix(lines, "\n"), "\n") {
			n++
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("audit -o jsonl line %d is not one JSON object: %v\n%s", i+1, err, line)
			}
		}
		if n != len(all) {
			t.Errorf("audit -o jsonl printed %d lines, -o json %d entries", n, len(all))
		}
		for format, out := range map[string]string{"json": doc, "jsonl": lines} {
			if strings.Contains(out, "ceo-planted-7f3a") || strings.Contains(out, "{{{") {
				t.Errorf("audit -o %s prints a planted body", format)
			}
		}
		t.Logf("audit: %d entries, %d of them invalid messages shown as invalid", len(all), invalid)
	})
}
