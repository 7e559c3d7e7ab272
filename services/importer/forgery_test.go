package importer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/tofu"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

// These tests run the importer service on an in-process JetStream with the
// import transaction replaced by a recorder (hooks.execute) and workspaces
// that need no tools (hooks.open): what they prove is which requests the
// executor carries out, and what it publishes, not the import itself (the
// lab tests do that).

const testToken = "tok"

func tokenEnv() Env {
	return Env{Getenv: func(k string) string {
		if k == DefaultApproverEnv {
			return testToken
		}
		return ""
	}}
}

// absentState is a state store whose S3 answers every read with NoSuchKey:
// an empty state.
func absentState(t *testing.T) *tofu.Store {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	c := s3.New(s3.Options{BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	return tofu.NewStore(c, "b", "k")
}

// recorder stands in for the import transaction.
type recorder struct {
	mu  sync.Mutex
	ran []execute.Request
	// block, when set, makes an import wait for the service to stop.
	block   bool
	started chan string
}

func newRecorder() *recorder { return &recorder{started: make(chan string, 16)} }

func (x *recorder) hooks(t *testing.T, js *eventstest.Env) hooks {
	st := absentState(t)
	return hooks{
		rescan: 200 * time.Millisecond,
		open: func(_ context.Context, ws string) (*execute.Workspace, error) {
			return &execute.Workspace{Name: ws, State: st, Journal: kvJournal{kv: js.Buckets.State, ws: ws, token: testToken}}, nil
		},
		execute: func(ctx context.Context, _ *execute.Workspace, r execute.Request) (execute.Outcome, error) {
			x.mu.Lock()
			x.ran = append(x.ran, r)
			block := x.block
			x.mu.Unlock()
			x.started <- r.ID
			if block {
				<-ctx.Done()
				return execute.Outcome{}, ctx.Err()
			}
			return execute.Outcome{Request: r, Status: execute.Succeeded, Step: execute.StepDone}, nil
		},
	}
}

// runs returns how many times the request was carried out.
func (x *recorder) runs(id string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, r := range x.ran {
		if r.ID == id {
			n++
		}
	}
	return n
}

// waitImportEvent waits for the first import event of a request in the
// stream with one of the verbs.
func waitImportEvent(t *testing.T, js *eventstest.Env, requestID string, timeout time.Duration, verbList ...string) *events.Import {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := js.JS.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectRoot + ".import.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := c.Next(jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatalf("no import.%s of %s within %s: %v (events: %s)", strings.Join(verbList, "|"), requestID, timeout, err, verbs(importEvents(t, js, requestID)))
		}
		_, d, err := events.Decode(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if im := d.(*events.Import); im.RequestID == requestID {
			for _, v := range verbList {
				if im.Verb() == v {
					return im
				}
			}
		}
	}
}

// forge does to a request what a client with NATS access and no approver
// token can: nats kv get driftgate-state importer.request.<ws>.<id>, edit
// the JSON, nats kv put it back.
func forge(t *testing.T, js *eventstest.Env, ws, id string, edit func(m map[string]any)) {
	t.Helper()
	ctx := context.Background()
	key := "importer.request." + ws + "." + id
	e, err := js.Buckets.State.Get(ctx, key)
	if err != nil {
		t.Fatalf("kv get %s: %v", key, err)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Buckets.State.Put(ctx, key, b); err != nil {
		t.Fatalf("kv put %s: %v", key, err)
	}
}

// TestForgedStatusIsRefused: a status written into the bucket without a
// decision the importer verifies — approved or running, with no decision,
// someone else's, or one signed with a guessed token — is not carried out:
// the request is rejected by driftgate with the reason, and import.rejected
// says why. A request approved through the signed path runs.
func TestForgedStatusIsRefused(t *testing.T) {
	js := eventstest.Start(t)
	x := newRecorder()
	p := startService(t, js, policyConfig(t), tokenEnv(), t.TempDir(), x.hooks(t, js))
	defer p.stop(t)
	ctx := context.Background()
	const ws = "ws-manual"
	request := func(name string) *RequestRecord {
		t.Helper()
		o := events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: "u-" + name}
		f := unimported(t, js, ws, "kubernetes_config_map."+name, "shop/"+name, o, events.RiskLow, 7)
		return waitRequest(t, p, ws, f.ID, 30*time.Second, StatusPending)
	}
	// refused waits for the refusal and checks that nothing ran.
	refused := func(t *testing.T, req *RequestRecord, why ...string) {
		t.Helper()
		// The refusal, or the import it must not be.
		e := waitImportEvent(t, js, req.ID, time.Minute, events.ImportRejected, events.ImportStarted)
		if e.Verb() != events.ImportRejected {
			t.Fatalf("the forged request was carried out: import.%s by %q", e.Verb(), e.By)
		}
		if e.By != "driftgate" || !strings.Contains(e.Reason, "not backed by a verified decision") {
			t.Errorf("import.rejected by %q: %q", e.By, e.Reason)
		}
		for _, w := range why {
			if !strings.Contains(e.Reason, w) {
				t.Errorf("reason %q does not say %q", e.Reason, w)
			}
		}
		// The executor refuses before it publishes import.started, so
		// with the refusal in the stream the absence is a fact.
		if got := verbs(importEvents(t, js, req.ID)); got != "requested,rejected" {
			t.Errorf("events %s, want requested,rejected", got)
		}
		if n := x.runs(req.ID); n != 0 {
			t.Errorf("the request was carried out %d times", n)
		}
		r, _, err := p.svc.reqs.get(ctx, ws, req.ID)
		if err != nil || r.Status != StatusRejected || r.By != "driftgate" || r.Reason != e.Reason {
			t.Errorf("record after the refusal: %+v %v", r, err)
		}
		// Final: a person cannot approve it now either.
		if rep, err := Decide(ctx, js.Conn, sign(Decision{ID: req.ID, Verb: VerbApprove, By: "alice"}, testToken)); err != nil || rep.OK {
			t.Errorf("approve after the refusal: %+v %v", rep, err)
		}
	}

	// Carried out through the signed path: proves the executor runs here.
	legit := request("legit")
	if r, err := Decide(ctx, js.Conn, sign(Decision{ID: legit.ID, Verb: VerbApprove, By: "alice", Reason: "reviewed"}, testToken)); err != nil || !r.OK {
		t.Fatalf("approve: %+v %v", r, err)
	}
	waitImportEvent(t, js, legit.ID, time.Minute, events.ImportSucceeded)
	es := importEvents(t, js, legit.ID)
	if got := verbs(es); got != "requested,approved,started,succeeded" {
		t.Errorf("signed approval: events %s", got)
	}
	for _, e := range es {
		if e.Verb() == events.ImportStarted && e.By != "alice" {
			t.Errorf("started by %q", e.By)
		}
	}
	if n := x.runs(legit.ID); n != 1 {
		t.Errorf("the approved request ran %d times", n)
	}
	legitRec, _, err := p.svc.reqs.get(ctx, ws, legit.ID)
	if err != nil || legitRec.Decision == nil || legitRec.Seal == "" {
		t.Fatalf("the approved record keeps no decision: %+v %v", legitRec, err)
	}

	t.Run("approved by mallory in KV", func(t *testing.T) {
		req := request("kv-approved")
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["status"], m["by"] = "approved", "mallory"
		})
		refused(t, req, `status "approved" (by "mallory")`, "the record holds no signed decision")
	})

	t.Run("running by mallory in KV", func(t *testing.T) {
		req := request("kv-running")
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["status"], m["by"], m["attempts"] = "running", "mallory", 1
		})
		refused(t, req, `status "running" (by "mallory")`)
	})

	t.Run("a huge by is quoted clipped", func(t *testing.T) {
		req := request("kv-huge")
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["status"], m["by"] = "approved", strings.Repeat("m", 100000)
		})
		refused(t, req, `(by "`+strings.Repeat("m", 100)+`…")`)
	})

	t.Run("another request's decision and seal copied in", func(t *testing.T) {
		req := request("kv-copied")
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["status"], m["by"], m["decision"], m["seal"] = "approved", legitRec.By, legitRec.Decision, legitRec.Seal
		})
		refused(t, req, "the decision is for "+legit.ID)
	})

	t.Run("a decision signed with a guessed token", func(t *testing.T) {
		req := request("kv-guessed")
		d := sign(Decision{ID: req.ID, Verb: VerbApprove, By: "mallory"}, "guess")
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["status"], m["by"], m["decision"], m["seal"] = "approved", "mallory", d, legitRec.Seal
		})
		refused(t, req, "decision signature invalid")
	})

	t.Run("an approved request's address changed", func(t *testing.T) {
		// Approved through the signed path while the executor is held
		// off by an undecided high-risk request, then redirected.
		o := events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "Secret", Namespace: "shop", Name: "db", UID: "u-db"}
		hf := unimported(t, js, ws, "kubernetes_secret.db", "shop/db", o, events.RiskHigh, 7)
		high := waitRequest(t, p, ws, hf.ID, 30*time.Second, StatusPending)
		req := request("kv-redirected")
		if r, err := Decide(ctx, js.Conn, sign(Decision{ID: req.ID, Verb: VerbApprove, By: "alice"}, testToken)); err != nil || !r.OK {
			t.Fatalf("approve: %+v %v", r, err)
		}
		waitImportEvent(t, js, req.ID, time.Minute, events.ImportApproved)
		forge(t, js, ws, req.ID, func(m map[string]any) {
			m["address"], m["import_id"] = "kubernetes_config_map.legit", "shop/legit"
		})
		if r, err := Decide(ctx, js.Conn, sign(Decision{ID: high.ID, Verb: VerbReject, By: "bob", Reason: "not now"}, testToken)); err != nil || !r.OK {
			t.Fatalf("reject the high-risk request: %+v %v", r, err)
		}
		e := waitImportEvent(t, js, req.ID, time.Minute, events.ImportRejected, events.ImportStarted)
		if e.Verb() != events.ImportRejected {
			t.Fatalf("the redirected request was carried out: import.%s of %s", e.Verb(), e.Address)
		}
		if !strings.Contains(e.Reason, "seal mismatch") {
			t.Errorf("reason %q", e.Reason)
		}
		if got := verbs(importEvents(t, js, req.ID)); got != "requested,approved,rejected" {
			t.Errorf("events %s", got)
		}
		if n := x.runs(req.ID); n != 0 {
			t.Errorf("the redirected request was carried out %d times", n)
		}
	})
}

// TestApprovedRequestsSurviveRestart: the signed decision is in the record,
// so after a restart an approved request still runs and an interrupted
// (running) one resumes — a person's approval and a policy's alike.
func TestApprovedRequestsSurviveRestart(t *testing.T) {
	js := eventstest.Start(t)
	cfg := policyConfig(t)
	dataDir := t.TempDir()
	ctx := context.Background()
	obj := func(name string) events.ObjectRef {
		return events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: "u-" + name}
	}

	// First run: the policy-approved import starts and is interrupted by
	// the stop; the manual approval waits behind it (one executor).
	x1 := newRecorder()
	x1.block = true
	p1 := startService(t, js, cfg, tokenEnv(), dataDir, x1.hooks(t, js))
	fa := unimported(t, js, "ws-auto", "kubernetes_config_map.b", "shop/b", obj("b"), events.RiskLow, 7)
	select {
	case <-x1.started:
	case <-time.After(time.Minute):
		t.Fatal("the policy-approved import did not start")
	}
	fm := unimported(t, js, "ws-manual", "kubernetes_config_map.a", "shop/a", obj("a"), events.RiskLow, 7)
	manual := waitRequest(t, p1, "ws-manual", fm.ID, 30*time.Second, StatusPending)
	if r, err := Decide(ctx, js.Conn, sign(Decision{ID: fm.ID, Verb: VerbApprove, By: "alice", Reason: "reviewed"}, testToken)); err != nil || !r.OK {
		t.Fatalf("approve: %+v %v", r, err)
	}
	p1.stop(t)
	auto := waitRequest(t, p1, "ws-auto", fa.ID, time.Second, StatusRunning)
	waitRequest(t, p1, "ws-manual", fm.ID, time.Second, StatusApproved)

	// Second run: both are carried out on the decisions in their records.
	x2 := newRecorder()
	p2 := startService(t, js, cfg, tokenEnv(), dataDir, x2.hooks(t, js))
	defer p2.stop(t)
	waitImportEvent(t, js, auto.ID, time.Minute, events.ImportSucceeded)
	waitImportEvent(t, js, manual.ID, time.Minute, events.ImportSucceeded)
	for _, c := range []struct {
		id, by, verbs string
	}{
		{auto.ID, "policy:auto", "requested,approved,started,started,succeeded"},
		{manual.ID, "alice", "requested,approved,started,succeeded"},
	} {
		es := importEvents(t, js, c.id)
		if got := verbs(es); got != c.verbs {
			t.Errorf("%s: events %s, want %s", c.by, got, c.verbs)
		}
		for _, e := range es {
			if (e.Verb() == events.ImportApproved || e.Verb() == events.ImportStarted) && e.By != c.by {
				t.Errorf("%s: %s by %q", c.id, e.Verb(), e.By)
			}
		}
		if n := x2.runs(c.id); n != 1 {
			t.Errorf("%s (%s) ran %d times after the restart", c.id, c.by, n)
		}
	}
}

// TestNoTokenNoExecution: without the approver token nothing can be
// verified, so nothing is carried out or judged: an approved status waits,
// and an auto policy does not approve.
func TestNoTokenNoExecution(t *testing.T) {
	js := eventstest.Start(t)
	x := newRecorder()
	h := x.hooks(t, js)
	var passes atomic.Int64
	h.afterPass = func() { passes.Add(1) }
	p := startService(t, js, policyConfig(t), Env{Getenv: func(string) string { return "" }}, t.TempDir(), h)
	defer p.stop(t)
	o := events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "a", UID: "u-a"}
	fa := unimported(t, js, "ws-auto", "kubernetes_config_map.a", "shop/a", o, events.RiskLow, 7)
	fm := unimported(t, js, "ws-manual", "kubernetes_config_map.a", "shop/a", o, events.RiskLow, 7)
	js.WaitConsumed(t, "importer", 30*time.Second)
	if r := waitRequest(t, p, "ws-auto", fa.ID, time.Second, StatusPending); r.Decision != nil {
		t.Errorf("auto approval without a token: %+v", r)
	}
	m := waitRequest(t, p, "ws-manual", fm.ID, time.Second, StatusPending)
	forge(t, js, "ws-manual", m.ID, func(m map[string]any) { m["status"], m["by"] = "approved", "mallory" })
	// Two passes of the executor after the forgery: the second one began
	// after it.
	before := passes.Load()
	deadline := time.Now().Add(30 * time.Second)
	for passes.Load() < before+2 {
		if time.Now().After(deadline) {
			t.Fatal("the executor did not pass over the workspaces")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := waitRequest(t, p, "ws-manual", fm.ID, time.Second, StatusApproved); r.By != "mallory" {
		t.Errorf("record %+v", r)
	}
	if n := x.runs(m.ID); n != 0 {
		t.Errorf("ran %d times without a token", n)
	}
	if got := verbs(importEvents(t, js, m.ID)); got != "requested" {
		t.Errorf("events %s", got)
	}
}

// TestRunOneVerifiesWhatItClaims: the executor checks the decision again in
// the compare-and-set that marks the request running, so a record altered
// after it was read (and checked) is refused, not carried out. The service
// is not running here: nothing else looks at the records.
func TestRunOneVerifiesWhatItClaims(t *testing.T) {
	js := eventstest.Start(t)
	ctx := context.Background()
	x := newRecorder()
	h := x.hooks(t, js)
	svc, err := New(policyConfig(t), service.Deps{Conn: js.Conn, JS: js.JS, Buckets: js.Buckets, Instance: "direct",
		DataDir: t.TempDir(), Getenv: tokenEnv().Getenv})
	if err != nil {
		t.Fatal(err)
	}
	svc.hooks = h
	const ws = "ws-manual"
	w, err := h.open(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	newRequest := func(name string) *RequestRecord {
		t.Helper()
		now := time.Now().UTC()
		fid := events.FindingID(ws, "kubernetes_config_map."+name, events.ClassUnimported)
		r := &RequestRecord{ID: RequestID(fid, "u-"+name, 7), Workspace: ws, FindingID: fid, Address: "kubernetes_config_map." + name,
			ImportID: "shop/" + name, Object: events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: name, UID: "u-" + name},
			Risk: events.RiskLow, Policy: "manual", StateSerial: 7, Status: StatusPending, CreatedAt: now, UpdatedAt: now}
		if ok, err := svc.reqs.create(ctx, r); err != nil || !ok {
			t.Fatalf("create: %v %v", ok, err)
		}
		r, err := svc.approve(ctx, ws, r.ID, sign(Decision{ID: r.ID, Verb: VerbApprove, By: "alice"}, testToken))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Read and verified, then altered before the claim.
	read := newRequest("toctou")
	if err := verifyApproval(read, testToken); err != nil {
		t.Fatalf("the approved record: %v", err)
	}
	forge(t, js, ws, read.ID, func(m map[string]any) { m["import_id"] = "kube-system/admin" })
	if err := svc.runOne(ctx, w, read); err != nil {
		t.Fatal(err)
	}
	e := waitImportEvent(t, js, read.ID, time.Minute, events.ImportRejected, events.ImportStarted)
	if e.Verb() != events.ImportRejected || !strings.Contains(e.Reason, "seal mismatch") {
		t.Errorf("import.%s: %q", e.Verb(), e.Reason)
	}
	if n := x.runs(read.ID); n != 0 {
		t.Errorf("carried out %d times", n)
	}

	// Unaltered: carried out, approval before start.
	ok := newRequest("ok")
	if err := svc.runOne(ctx, w, ok); err != nil {
		t.Fatal(err)
	}
	if got := verbs(importEvents(t, js, ok.ID)); got != "approved,started,succeeded" || x.runs(ok.ID) != 1 {
		t.Errorf("events %s, ran %d times", got, x.runs(ok.ID))
	}
}
