package console_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/findings"
	"github.com/driftgate/driftgate/pkg/imports"
	"github.com/driftgate/driftgate/pkg/service"
	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/services/console"
	"github.com/driftgate/driftgate/services/console/internal/web"
)

const (
	approverToken = "approver-token-for-tests-0123456789"
	aliceToken    = "alice-login-token-0123456789"
	bobToken      = "bob-login-token-0123456789ab"
	slackSecret   = "8f742231b10e8888abcd99yyyzzz85a5"
	// canary is a Secret's value: no page may ever show it.
	canary = "CANARY-s3cr3t-7f1d2c"
)

var env = map[string]string{
	"DRIFTGATE_APPROVER_TOKEN": approverToken,
	"ALICE_TOKEN":              aliceToken,
	"BOB_TOKEN":                bobToken,
	"SLACK_SIGNING_SECRET":     slackSecret,
	"SESSION_KEY":              "a-session-key-for-tests",
}

const configYAML = `
workspaces:
  - name: shop
    dir: .
console:
  listen: 127.0.0.1:0
  session_key_env: SESSION_KEY
  users:
    - {name: alice, role: approver, token_env: ALICE_TOKEN}
    - {name: bob, role: viewer, token_env: BOB_TOKEN}
  slack:
    signing_secret_env: SLACK_SIGNING_SECRET
    approvers:
      - {slack_user: U0ALICE, name: alice}
      - {slack_user: U0CAROL, name: carol}
`

// lab is a console on a real in-process JetStream, with the importer's
// decide RPC answered by decider.
type lab struct {
	env     *eventstest.Env
	rec     *eventstest.Recorder
	url     string
	pub     *events.Publisher
	decider *decider
}

func start(t *testing.T) *lab {
	t.Helper()
	e := eventstest.Start(t)
	cfg, err := config.Parse("console.yaml", []byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := console.New(cfg, service.Deps{Conn: e.Conn, JS: e.JS, Buckets: e.Buckets, Log: log, Instance: "test",
		Getenv: func(k string) string { return env[k] }}, web.WithListener(l))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console Run: %v", err)
		}
	})
	lb := &lab{env: e, rec: e.Record(t), url: "http://" + l.Addr().String(), pub: events.NewPublisher(e.JS, "driftgate/test/1")}
	lb.decider = startDecider(t, e)
	waitHTTP(t, lb.url+"/healthz")
	return lb
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not serving: %v", u, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// decider answers the decide RPC the way the importer does (its contract
// in pkg/imports): it verifies the signed decision with the approver token
// and only then records it and publishes import.approved / rejected.
type decider struct {
	mu      sync.Mutex
	taken   []imports.Decision
	refused []string
}

func startDecider(t *testing.T, e *eventstest.Env) *decider {
	d := &decider{}
	pub := events.NewPublisher(e.JS, "driftgate/importer/test")
	sub, err := e.Conn.QueueSubscribe(imports.DecideSubject, "importer", func(m *nats.Msg) {
		reply := func(r imports.DecisionReply) { b, _ := json.Marshal(r); _ = m.Respond(b) }
		var dec imports.Decision
		if err := json.Unmarshal(m.Data, &dec); err != nil {
			reply(imports.DecisionReply{Error: err.Error()})
			return
		}
		if err := dec.Validate(); err != nil {
			reply(imports.DecisionReply{Error: err.Error()})
			return
		}
		if err := dec.Verify(approverToken, time.Now()); err != nil {
			d.mu.Lock()
			d.refused = append(d.refused, err.Error())
			d.mu.Unlock()
			reply(imports.DecisionReply{Error: "refused: " + err.Error()})
			return
		}
		ctx := context.Background()
		var rq imports.Request
		if _, ok, err := events.GetJSON(ctx, e.Buckets.State, imports.RequestKey("shop", dec.ID), &rq); err != nil || !ok {
			reply(imports.DecisionReply{Error: "no import request " + dec.ID})
			return
		}
		if rq.Status != imports.StatusPending {
			reply(imports.DecisionReply{OK: true, Request: &rq})
			return
		}
		rq.Status, rq.By, rq.Reason = imports.StatusApproved, dec.By, dec.Reason
		verb := events.ImportApproved
		if dec.Verb == imports.VerbReject {
			rq.Status, verb = imports.StatusRejected, events.ImportRejected
		}
		rq.Decision = &dec
		if _, err := events.PutJSON(ctx, e.Buckets.State, imports.RequestKey("shop", dec.ID), rq); err != nil {
			reply(imports.DecisionReply{Error: err.Error()})
			return
		}
		ev := events.NewImport(verb, events.Import{RequestID: rq.ID, WS: rq.Workspace, FindingID: rq.FindingID, Address: rq.Address,
			ImportID: rq.ImportID, Object: rq.Object, Risk: rq.Risk, By: dec.By, Reason: dec.Reason, At: time.Now().UTC()})
		if _, err := pub.Publish(ctx, ev); err != nil {
			reply(imports.DecisionReply{Error: err.Error()})
			return
		}
		d.mu.Lock()
		d.taken = append(d.taken, dec)
		d.mu.Unlock()
		reply(imports.DecisionReply{OK: true, Request: &rq})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return d
}

func (d *decider) decisions() []imports.Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]imports.Decision(nil), d.taken...)
}

// fixture writes what the planner and importer would have written: an
// unimported Deployment with its import request, and a changed Secret whose
// event carries the canary in clear (as a buggy upstream might).
type fixture struct {
	deploy, secret events.Finding
	request        imports.Request
	// revision is the configuration commit the plan ran on (the
	// workspace's revision record names it too).
	revision string
}

// The commits of the fixture's workspace: the one planned, the next one.
const (
	revPlanned = "4f2a9c1be07d5e3a8c6b1f0d2e4a6c8b0d1e3f5a"
	revNext    = "9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d"
)

func (lb *lab) seed(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	dep := events.ObjectRef{Cluster: "lab", Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web", UID: "uid-web"}
	sec := events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "Secret", Namespace: "shop", Name: "creds", UID: "uid-creds"}
	kt := now.Add(-time.Minute)
	fx := fixture{
		deploy: events.Finding{ID: events.FindingID("shop", "kubernetes_deployment.web", events.ClassUnimported), Workspace: "shop",
			Address: "kubernetes_deployment.web", Object: dep, Class: events.ClassUnimported, Risk: events.RiskLow,
			Attribution: []events.Attribution{{Manager: "kubectl-create", Operation: "Update", Time: &kt}},
			ImportID:    "shop/web", RecommendedAction: "import", FirstSeen: now, LastSeen: now, State: events.StateOpen},
		secret: events.Finding{ID: events.FindingID("shop", "kubernetes_secret.creds", events.ClassChanged), Workspace: "shop",
			Address: "kubernetes_secret.creds", Object: sec, Class: events.ClassChanged, Risk: events.RiskHigh,
			Paths: []string{"data.password"}, Attribution: []events.Attribution{{Manager: "kubectl-edit", Operation: "Update", Time: &kt}},
			ImportID: "shop/creds", RecommendedAction: "revert by apply, or accept into code", FirstSeen: now, LastSeen: now, State: events.StateOpen},
	}
	fx.request = imports.Request{ID: "ir-0123456789abcdef", Workspace: "shop", FindingID: fx.deploy.ID, Address: fx.deploy.Address,
		ImportID: fx.deploy.ImportID, Object: dep, Risk: events.RiskLow, Policy: "manual", StateSerial: 7, Revision: revPlanned,
		Status: imports.StatusPending, CreatedAt: now, UpdatedAt: now}
	fx.revision = revPlanned
	if err := source.PutRevision(ctx, lb.env.Buckets.State, &source.Revision{Workspace: "shop", URL: "https://git.example.com/shop.git",
		Ref: "main", Commit: revPlanned, Subject: "web: the Deployment", FetchedAt: now}); err != nil {
		t.Fatal(err)
	}
	store := findings.Store{KV: lb.env.Buckets.Findings}
	for _, f := range []events.Finding{fx.deploy, fx.secret} {
		if err := store.Put(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := events.PutJSON(ctx, lb.env.Buckets.State, imports.RequestKey("shop", fx.request.ID), fx.request); err != nil {
		t.Fatal(err)
	}
	for _, d := range []events.Data{
		&events.ObjectChanged{Object: dep, Resource: "deployments.apps", Change: events.ChangeAdded, ResourceVersion: "11", ObservedAt: now},
		&events.ObjectChanged{Object: sec, Resource: "secrets", Change: events.ChangeUpdated, ResourceVersion: "12", Paths: []string{"data.password"}, ObservedAt: now},
		&events.PlanCompleted{WS: "shop", PlanID: "p1", Trigger: "change", Tool: "tofu", ToolVersion: "1.10.10", StateSerial: 7, Revision: revPlanned, DurationMS: 3100, StartedAt: now,
			Counts: map[string]int{events.ClassUnimported: 1, events.ClassChanged: 1}},
		&events.DriftDetected{Finding: fx.deploy, PlanID: "p1", StateSerial: 7, Reason: "the plan creates it; it exists live"},
		&events.DriftDetected{Finding: fx.secret, PlanID: "p1", StateSerial: 7,
			Excerpt: events.Excerpt{Before: map[string]any{"data": map[string]any{"password": canary}}, After: map[string]any{"data": map[string]any{"password": "(sensitive)"}}}},
		events.NewImport(events.ImportRequested, events.Import{RequestID: fx.request.ID, WS: "shop", FindingID: fx.deploy.ID, Address: fx.deploy.Address,
			ImportID: "shop/web", Object: dep, Risk: events.RiskLow, Policy: "manual", StateSerial: 7, Revision: revPlanned, At: now}),
	} {
		if _, err := lb.pub.Publish(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// browser is an HTTP client with its own cookies.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func (lb *lab) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: lb.url, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in page:\n%s", body)
	}
	return m[1]
}

func (b *browser) login(token string) {
	b.t.Helper()
	_, page := b.get("/login")
	code, loc, body := b.post("/login", url.Values{"csrf": {csrfOf(b.t, page)}, "token": {token}, "next": {"/"}})
	if code != http.StatusSeeOther || loc != "/" {
		b.t.Fatalf("login: %d %q\n%s", code, loc, body)
	}
}

func TestConsole(t *testing.T) {
	lb := start(t)
	fx := lb.seed(t)
	isDecision := func(r eventstest.Recorded) bool {
		return r.Event.Type() == events.TypeImportApproved || r.Event.Type() == events.TypeImportRejected
	}

	t.Run("nothing readable without a login", func(t *testing.T) {
		anon := lb.browser(t)
		for _, p := range []string{"/", "/findings", "/findings/" + fx.deploy.ID, "/workspaces/shop/report", "/requests", "/audit", "/nope"} {
			code, body := anon.get(p)
			if code != http.StatusUnauthorized || !strings.Contains(body, `id="login"`) || strings.Contains(body, fx.deploy.Address) {
				t.Errorf("GET %s without login: %d, want 401 and the login page only:\n%.400s", p, code, body)
			}
		}
		if code, _ := anon.get("/events"); code != http.StatusUnauthorized {
			t.Errorf("GET /events without login: %d", code)
		}
		_, page := anon.get("/login")
		if code, _, _ := anon.post("/requests/"+fx.request.ID+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "verb": {"approve"}}); code != http.StatusUnauthorized {
			t.Errorf("anonymous decide: %d", code)
		}
		if code, _, _ := anon.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {"not-a-token-at-all-000"}}); code != http.StatusUnauthorized {
			t.Errorf("bad token login: %d", code)
		}
		if code, _, _ := anon.post("/login", url.Values{"token": {aliceToken}}); code != http.StatusForbidden {
			t.Errorf("login without CSRF: %d, want 403", code)
		}
		// A forged session cookie does not log anyone in.
		u, _ := url.Parse(lb.url)
		anon.c.Jar.SetCookies(u, []*http.Cookie{{Name: "dg_session", Value: base64.RawURLEncoding.EncodeToString([]byte(`{"n":"alice","r":"approver","v":"token","e":"2999-01-01T00:00:00Z"}`)) + ".AAAA"}})
		if code, _ := anon.get("/"); code != http.StatusUnauthorized {
			t.Errorf("forged session: %d", code)
		}
	})

	bob := lb.browser(t)
	bob.login(bobToken)
	alice := lb.browser(t)
	alice.login(aliceToken)

	t.Run("pages", func(t *testing.T) {
		_, ov := bob.get("/")
		for _, want := range []string{fx.deploy.Address, "unimported", "state serial 7", "1 pending import request", "bob", "viewer"} {
			if !strings.Contains(ov, want) {
				t.Errorf("overview lacks %q", want)
			}
		}
		_, fl := bob.get("/findings?workspace=shop&class=unimported")
		if !strings.Contains(fl, fx.deploy.Address) || strings.Contains(fl, fx.secret.Address) {
			t.Errorf("findings filtered by class: %s", fl)
		}
		_, fl = bob.get("/findings?risk=high")
		if strings.Contains(fl, fx.deploy.Address) || !strings.Contains(fl, fx.secret.Address) {
			t.Errorf("findings filtered by risk: %s", fl)
		}
		_, fp := bob.get("/findings/" + fx.deploy.ID)
		for _, want := range []string{`<code id="import-id">shop/web</code>`, "kubectl-create", "object.changed", "drift.detected", "import.requested", fx.request.ID, "pending"} {
			if !strings.Contains(fp, want) {
				t.Errorf("finding page lacks %q", want)
			}
		}
		_, rp := bob.get("/workspaces/shop/report")
		if !strings.Contains(rp, "kubernetes_deployment.web") || !strings.Contains(rp, "<strong>import</strong>") {
			t.Errorf("decision table: %s", rp)
		}
		_, au := bob.get("/audit?type=import&workspace=shop")
		if !strings.Contains(au, "import.requested") || strings.Contains(au, `data-type="drift.detected"`) {
			t.Errorf("audit filtered by type: %s", au)
		}
		if code, body := bob.get("/audit?since=yesterday"); code != http.StatusBadRequest || !strings.Contains(body, "since:") {
			t.Errorf("bad since: %d", code)
		}
	})

	t.Run("the overview names the configuration revision", func(t *testing.T) {
		// Next to the last plan's serial: the commit it ran on (plan.completed),
		// and the workspace's revision record.
		_, ov := bob.get("/")
		for _, want := range []string{
			"state serial 7, config revision <code class=\"revision\">" + fx.revision[:12] + "</code>",
			"configuration from Git: main at <code>" + fx.revision[:12] + "</code>",
		} {
			if !strings.Contains(ov, want) {
				t.Errorf("overview lacks %q:\n%s", want, ov)
			}
		}
		if strings.Contains(ov, "not planned yet") {
			t.Errorf("the planned revision is shown as not planned yet:\n%s", ov)
		}
		_, rq := bob.get("/requests?workspace=shop")
		if !strings.Contains(rq, "config revision <code>"+fx.revision[:12]+"</code>") {
			t.Errorf("the request does not name the revision it was judged on:\n%s", rq)
		}
		// The planner checked out the next commit; its plan is not in yet.
		ctx := context.Background()
		if err := source.PutRevision(ctx, lb.env.Buckets.State, &source.Revision{Workspace: "shop", URL: "https://git.example.com/shop.git",
			Ref: "main", Commit: revNext, Previous: revPlanned, Subject: "web: two replicas", FetchedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = source.PutRevision(ctx, lb.env.Buckets.State, &source.Revision{Workspace: "shop", URL: "https://git.example.com/shop.git",
				Ref: "main", Commit: revPlanned, Subject: "web: the Deployment", FetchedAt: time.Now().UTC()})
		})
		_, ov = bob.get("/")
		for _, want := range []string{
			"state serial 7, config revision <code class=\"revision\">" + fx.revision[:12] + "</code>",
			"configuration from Git: main at <code>" + revNext[:12] + "</code>",
			"web: two replicas", "not planned yet",
		} {
			if !strings.Contains(ov, want) {
				t.Errorf("after the record moved, the overview lacks %q:\n%s", want, ov)
			}
		}
	})

	t.Run("a Secret value never reaches a page", func(t *testing.T) {
		_, fp := alice.get("/findings/" + fx.secret.ID)
		if !strings.Contains(fp, "data.password") || !strings.Contains(fp, "(sensitive)") {
			t.Errorf("the Secret's finding page shows no redacted excerpt:\n%s", fp)
		}
		b64 := base64.StdEncoding.EncodeToString([]byte(canary))
		for _, p := range []string{"/", "/findings?state=all", "/findings/" + fx.secret.ID, "/findings/" + fx.deploy.ID,
			"/workspaces/shop/report", "/requests", "/audit", "/audit?type=drift", "/audit?object=shop/creds"} {
			_, body := alice.get(p)
			if strings.Contains(body, canary) || strings.Contains(body, b64) {
				t.Errorf("GET %s shows the Secret's value", p)
			}
		}
	})

	t.Run("a viewer's approve is refused", func(t *testing.T) {
		mark := lb.rec.Mark()
		_, page := bob.get("/requests")
		code, _, body := bob.post("/requests/"+fx.request.ID+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "verb": {"approve"}, "reason": {"lgtm"}})
		if code != http.StatusForbidden || !strings.Contains(body, "only approvers") {
			t.Errorf("viewer approve: %d\n%s", code, body)
		}
		if n := len(lb.decider.decisions()); n != 0 {
			t.Errorf("the importer got %d decisions from a viewer", n)
		}
		lb.rec.WaitCaughtUp(t, 10*time.Second)
		if n := lb.rec.Count(mark, isDecision); n != 0 {
			t.Errorf("%d decision events after a viewer's approve", n)
		}
	})

	t.Run("an approver's form without its CSRF token is refused", func(t *testing.T) {
		code, _, _ := alice.post("/requests/"+fx.request.ID+"/decide", url.Values{"verb": {"approve"}})
		if code != http.StatusForbidden {
			t.Errorf("no CSRF: %d", code)
		}
		_, page := bob.get("/requests") // another browser's token
		code, _, _ = alice.post("/requests/"+fx.request.ID+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "verb": {"approve"}})
		if code != http.StatusForbidden {
			t.Errorf("another browser's CSRF token: %d", code)
		}
		if n := len(lb.decider.decisions()); n != 0 {
			t.Errorf("%d decisions without a valid form", n)
		}
	})

	t.Run("live updates and an approval in the approver's name", func(t *testing.T) {
		sse := openSSE(t, alice)
		mark := lb.rec.Mark()
		_, page := alice.get("/findings/" + fx.deploy.ID)
		code, loc, body := alice.post("/requests/"+fx.request.ID+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "verb": {"approve"},
			"reason": {"matches the config"}, "back": {"/findings/" + fx.deploy.ID}})
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/findings/"+fx.deploy.ID+"?done=") {
			t.Fatalf("approve: %d %q\n%s", code, loc, body)
		}
		ev := lb.rec.WaitFor(t, mark, 10*time.Second, "import.approved", isDecision)
		imp := ev.Data.(*events.Import)
		if ev.Event.Type() != events.TypeImportApproved || imp.By != "alice" || imp.Reason != "matches the config" {
			t.Errorf("decision event: %s by %q reason %q", ev.Event.Type(), imp.By, imp.Reason)
		}
		ds := lb.decider.decisions()
		if len(ds) != 1 || ds[0].By != "alice" || ds[0].Signature == "" {
			t.Fatalf("decisions: %+v", ds)
		}
		sse.waitFor(t, func(le map[string]any) bool {
			return le["type"] == events.TypeImportApproved && le["request_id"] == fx.request.ID
		})
		_, fp := alice.get(loc)
		if !strings.Contains(fp, "approved by alice") || !strings.Contains(fp, "import.approved") {
			t.Errorf("the finding page after approval:\n%s", fp)
		}
		// A new finding reaches the open page's event stream.
		f := fx.deploy
		f.ID, f.Address, f.Object.Name = events.FindingID("shop", "kubernetes_service.web", events.ClassUnimported), "kubernetes_service.web", "web-svc"
		if _, err := lb.pub.Publish(context.Background(), &events.DriftDetected{Finding: f, PlanID: "p2"}); err != nil {
			t.Fatal(err)
		}
		sse.waitFor(t, func(le map[string]any) bool { return le["finding_id"] == f.ID })
	})
}

type sseStream struct {
	ch chan map[string]any
}

func openSSE(t *testing.T, b *browser) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	c := *b.c
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{ch: make(chan map[string]any, 256)}
	hello := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				if event == "hello" {
					close(hello)
				}
			case strings.HasPrefix(line, "data: ") && event == "driftgate":
				var m map[string]any
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m) == nil {
					s.ch <- m
				}
			}
		}
	}()
	select {
	case <-hello:
	case <-time.After(10 * time.Second):
		t.Fatal("no hello on /events")
	}
	return s
}

func (s *sseStream) waitFor(t *testing.T, match func(map[string]any) bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-s.ch:
			if match(m) {
				return
			}
		case <-timeout:
			t.Fatal(errors.New("the awaited live event did not arrive within 10s"))
		}
	}
}
