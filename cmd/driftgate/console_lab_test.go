package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/test/lab"
)

// TestConsoleBrowserLab drives a real headless Chromium (Debian's chromium,
// installed by hack/chromium.sh when missing) with chromedp against the
// console of `driftgate run` on the lab, with OpenTofu and
// examples/marketplace and a canary in the Secret's value:
//
//   - an unauthenticated browser gets the login page;
//   - a viewer's open overview shows the ConfigMap dropped from the state
//     (tofu state rm) by itself, seconds later; the viewer's Approve is
//     refused;
//   - an approver opens it from the overview (import ID, timeline), approves
//     it with a reason; the real importer takes the signed decision,
//     imports, and the open page updates by itself (server-sent events)
//     to the request's success and the finding's resolution;
//   - no page shows the Secret's value.
//
// Every wait is for a DOM condition or an event; screenshots go to
// $DRIFTGATE_SCREENSHOTS (docs/img for the docs), else a temp dir.
func TestConsoleBrowserLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab and a browser")
	}
	const (
		ws       = "marketplace"
		ns       = "shop"
		lostAddr = "kubernetes_config_map.marketplace"
		canary   = "canary-console-4b9e21"
		alice    = "alice-console-login-token-7d3e"
		bob      = "bob-console-login-token-81c0a"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	chromium := findChromium(t)
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
	w := l.NewWorkspace(t, "../../examples/marketplace", lab.Tofu, "e2e/console.tfstate")
	dbURL := "postgresql://marketplace:" + canary + "@db:5432/marketplace"
	if err := os.WriteFile(filepath.Join(w.Dir, "lab.auto.tfvars"), []byte(fmt.Sprintf("database_url = %q\n", dbURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(ctx); err != nil {
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
	consoleAddr := freePort(t)
	base := "http://" + consoleAddr
	cfg := filepath.Join(dir, "driftgate.yaml")
	yml := fmt.Sprintf(`nats:
  stream_max_age: 24h
clusters:
  - name: lab
    kubeconfig: %q
watch:
  resources: [deployments.apps, services, configmaps, secrets, namespaces, serviceaccounts]
  namespaces: [%s]
workspaces:
  - name: %s
    cluster: lab
    dir: %q
    binary: %q
    backend_config:
%s    full_plan_interval: 10m
    namespaces: [%s]
    import: {approval: manual}
console:
  listen: %s
  session_key_env: DRIFTGATE_CONSOLE_SESSION_KEY
  users:
    - {name: alice, role: approver, token_env: CONSOLE_TOKEN_ALICE}
    - {name: bob, role: viewer, token_env: CONSOLE_TOKEN_BOB}
`, l.Kubeconfig, ns, ws, w.Dir, l.BinaryPath(lab.Tofu), bc.String(), ns, consoleAddr)
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	listen, httpAddr := freePort(t), freePort(t)
	env := append(os.Environ(), l.Env()...)
	env = append(env, "DRIFTGATE_APPROVER_TOKEN=approver-console-e2e-5a1f", "DRIFTGATE_CONSOLE_SESSION_KEY=session-key-console-e2e",
		"CONSOLE_TOKEN_ALICE="+alice, "CONSOLE_TOKEN_BOB="+bob, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	// Registered after lab.Start's cleanup, so it runs first: the pipeline
	// stops before the lab does.
	proc := startRun(t, bin, cfg, dir, listen, httpAddr, env)
	proc.waitHTTP(t, base+"/healthz", 2*time.Minute)

	shots := os.Getenv("DRIFTGATE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "driftgate-console-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(1280, 900))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The first run starts the browser, with no timeout of its own.
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	type step = chromedp.Action[chromedp.Void]
	failPage := func(what string, err error) {
		t.Helper()
		loc, _ := chromedp.Run(browser, chromedp.Location())
		html, _ := chromedp.Run(browser, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\nat %s:\n%.3000s", what, err, loc, html)
	}
	// do runs browser steps with a liveness bound; each waits for a fact.
	do := func(what string, limit time.Duration, steps ...step) {
		t.Helper()
		c, stop := context.WithTimeout(browser, limit)
		defer stop()
		if err := chromedp.Do(c, steps...); err != nil {
			failPage(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		c, stop := context.WithTimeout(browser, 30*time.Second)
		defer stop()
		v, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			failPage("read "+sel, err)
		}
		return v
	}
	shot := func(name string) step {
		return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return chromedp.Void{}, err
			}
			return chromedp.Void{}, os.WriteFile(filepath.Join(shots, "console-"+name+".png"), png, 0o644)
		}
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	login := func(token string) step {
		return chromedp.Steps(
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(css("#token")),
			chromedp.SendKeys(css("#token"), token),
			chromedp.Click(css("#login-submit")),
			chromedp.WaitVisible(css("#who")),
		)
	}
	logout := chromedp.Steps(chromedp.Click(css(`form[action="/logout"] button`)), chromedp.WaitVisible(css("#token")))
	findingID := events.FindingID(ws, lostAddr, events.ClassUnimported)
	findingLink := fmt.Sprintf(`#ws-%s a[href="/findings/%s"]`, ws, findingID)
	decideForm := `#decide-area form.decide`

	// 1. Unauthenticated: the login page, nothing else.
	do("the login page for an anonymous browser", time.Minute,
		chromedp.Navigate(base+"/findings"),
		chromedp.WaitVisible(css("#login")),
		shot("login"))
	if txt := text("main"); strings.Contains(txt, lostAddr) {
		t.Errorf("the login page shows a finding: %s", txt)
	}

	// 2. The viewer: with the overview open on a clean workspace, an import
	// is lost (tofu state rm, as a CI runner loses one): the object appears
	// on the open page by itself. Then an Approve is refused.
	do("bob sees the workspace clean after the startup plan", 5*time.Minute,
		login(bob),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#ws-`+ws+` .plan[data-trigger="startup"]`)),
		chromedp.WaitVisible(css(`#ws-`+ws+` .ok`)))
	start := time.Now()
	if err := w.TF.StateRm(ctx, lostAddr); err != nil {
		t.Fatal(err)
	}
	do("the unimported ConfigMap appears on the open overview", 3*time.Minute, chromedp.WaitVisible(css(findingLink)), shot("overview-live"))
	t.Logf("the unimported object on the open overview %v after tofu state rm", time.Since(start).Round(time.Millisecond))
	if r, err := chromedp.Run(browser, chromedp.AttributeValue(css("body"), "data-refreshed")); err != nil || r.Value == "" {
		t.Errorf("the overview did not update by itself (data-refreshed %q, %v)", r.Value, err)
	}
	do("bob's approve is refused", 3*time.Minute,
		chromedp.Click(css(findingLink)),
		chromedp.WaitVisible(css(decideForm+" button.approve")),
		chromedp.Click(css(decideForm+" button.approve")),
		chromedp.WaitVisible(css("#refused")),
		shot("viewer-refused"))
	if refused := text("#refused"); !strings.Contains(refused, "only approvers") {
		t.Errorf("viewer's approve: %q", refused)
	}
	do("bob logs out", time.Minute, logout)

	// 3. The approver: overview, the finding, approve with a reason.
	do("alice opens the overview", time.Minute, login(alice), chromedp.Navigate(base+"/"), chromedp.WaitVisible(css(findingLink)), shot("overview"))
	do("alice opens the finding", 3*time.Minute,
		chromedp.Click(css(findingLink)),
		chromedp.WaitVisible(css("#import-id")),
		chromedp.WaitVisible(css(decideForm)),
		chromedp.SendKeys(css(decideForm+" input.reason"), "console e2e: adopt the ConfigMap the runner lost"),
		shot("finding"))
	if importID := text("#import-id"); importID != ns+"/marketplace-config" {
		t.Errorf("import ID on the page: %q", importID)
	}
	timeline := text("#timeline")
	for _, want := range []string{"drift.detected", "import.requested"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the timeline lacks %s:\n%s", want, timeline)
		}
	}
	step0 := time.Now()
	do("alice approves; the page follows the import by itself", 5*time.Minute,
		chromedp.Click(css(decideForm+" button.approve")),
		chromedp.WaitVisible(css("#flash")),
		// From here on the page is not navigated: what changes, changes by
		// server-sent events.
		chromedp.WaitVisible(css(`#request-status .status-succeeded`)),
		chromedp.WaitVisible(css(`#finding-state.state-resolved`)),
		shot("resolved"))
	refreshed, err := chromedp.Run(browser, chromedp.AttributeValue(css("body"), "data-refreshed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("import succeeded and the finding resolved on the open page %v after Approve (%s live refreshes)", time.Since(step0).Round(time.Millisecond), refreshed.Value)
	if status, state := text("#request-status"), text("#finding-state"); !strings.Contains(status, "by alice") || state != "resolved" {
		t.Errorf("after the import: request %q, finding %q", status, state)
	}
	if n, _ := strconv.Atoi(refreshed.Value); n < 1 {
		t.Errorf("the page was not updated by server-sent events (data-refreshed %q)", refreshed.Value)
	}
	do("the audit page", 2*time.Minute,
		chromedp.Navigate(base+"/audit?type=import&workspace="+ws),
		chromedp.WaitVisible(css(`tr[data-type="import.succeeded"]`)),
		shot("audit"))
	if audit := text("#audit"); !strings.Contains(audit, "by alice") {
		t.Errorf("the audit trail does not name alice as the approver:\n%s", audit)
	}
	do("the decision table", time.Minute,
		chromedp.Navigate(base+"/workspaces/"+ws+"/report"),
		chromedp.WaitVisible(css("#report")),
		shot("report"))

	// 4. No page shows the Secret's value.
	b64 := base64.StdEncoding.EncodeToString([]byte(dbURL))
	for _, p := range []string{"/", "/findings?state=all", "/findings/" + findingID, "/requests", "/audit?since=1h", "/workspaces/" + ws + "/report"} {
		do("open "+p, time.Minute, chromedp.Navigate(base+p), chromedp.WaitVisible(css("main")))
		html, err := chromedp.Run(browser, chromedp.OuterHTML(css("html")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, canary) || strings.Contains(html, b64) {
			t.Errorf("%s shows the Secret's value", p)
		}
	}
	t.Logf("screenshots in %s", shots)
}

// findChromium returns Debian's chromium, installing it with
// hack/chromium.sh when it is missing (as make tools installs the lab).
func findChromium(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("../../hack/chromium.sh").Output()
	if err != nil {
		msg := err.Error()
		if ee, ok := err.(*exec.ExitError); ok {
			msg += ": " + string(ee.Stderr)
		}
		t.Fatalf("chromium is missing and hack/chromium.sh could not install it: %s", msg)
	}
	return strings.TrimSpace(string(out))
}
