package planner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftgate/driftgate/pkg/config"
	"github.com/driftgate/driftgate/pkg/events"
	"github.com/driftgate/driftgate/pkg/events/eventstest"
	"github.com/driftgate/driftgate/pkg/source/gittest"
	"github.com/driftgate/driftgate/services/planner"
	"github.com/driftgate/driftgate/test/lab"
)

// gitToken is the repository token of TestGitSourceLab: it must appear in
// no event.
const gitToken = "glpat-CANARY-7e3f9a1c2b"

// editFile rewrites a file of dir with edit.
func editFile(t *testing.T, path string, edit func(string) string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := edit(string(b))
	if out == string(b) {
		t.Fatalf("edit of %s changed nothing", path)
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// removeBlock removes the top-level block that starts with header.
func removeBlock(t *testing.T, src, header string) string {
	t.Helper()
	i := strings.Index(src, header)
	if i < 0 {
		t.Fatalf("no %q", header)
	}
	j := strings.Index(src[i:], "\n}\n")
	if j < 0 {
		t.Fatalf("no end of %q", header)
	}
	return src[:i] + src[i+j+3:]
}

// TestGitSourceLab: the planner plans a workspace whose configuration is
// in a real Git server (git http-backend behind net/http/cgi, with a
// token). Every plan.completed and finding carries the revision it was
// judged on. A pushed commit that changes a ConfigMap value is
// pending-config with that commit, never changed, announced once; applying
// it resolves it. A commit that removes a resource block is pending-config
// (a destroy), not deleted. A live scale after a new revision is changed,
// pinned to the new commit. A rotated token is one clear FetchFailed event
// while the last good revision keeps being planned; the token is in no
// event.
func TestGitSourceLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	l := lab.Start(t, lab.WithoutControllerManager())
	const ns = "gitsrc"
	w := prepare(t, l, marketplaceSrc, lab.Tofu, "gitsrc/state.tfstate", map[string]string{"namespace": `"` + ns + `"`})
	apply(t, w)
	srv := gittest.New(t, gitToken)
	const path = "envs/lab"
	c1 := srv.Commit(t, "main", "marketplace for the lab", srv.CopyDir(t, w.Dir, path))
	t.Setenv("DRIFTGATE_TEST_GIT_TOKEN", gitToken)

	cfg := workspaceConfig(l, "gitsrc", "", lab.Tofu, ns)
	cfg.Workspaces[0].Source = &config.Source{Git: &config.GitSource{URL: srv.URL, Ref: "main", Path: path,
		Interval: config.Duration{Duration: time.Second}, Auth: config.GitAuth{TokenEnv: "DRIFTGATE_TEST_GIT_TOKEN"}}}
	cfg.Workspaces[0].FullPlanInterval = config.Duration{Duration: 3 * time.Second}
	env := eventstest.Start(t)
	s := env.Record(t)
	startPlanner(t, env, cfg, "planner-1", t.TempDir(), nil, planner.WithEnviron(toolEnv(l)), planner.WithStatePoll(time.Second))

	planAt := func(rev string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			pc, ok := r.Data.(*events.PlanCompleted)
			return ok && pc.WS == "gitsrc" && pc.Revision == rev && pc.Error == "" && pc.Full
		}
	}
	detected := func(addr, class, rev string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			d, ok := r.Data.(*events.DriftDetected)
			return ok && d.Finding.Address == addr && d.Finding.Class == class && d.Revision == rev && d.Finding.Revision == rev
		}
	}
	driftOf := func(addr string, classes ...string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			d, ok := r.Data.(*events.DriftDetected)
			if !ok || d.Finding.Address != addr {
				return false
			}
			for _, c := range classes {
				if d.Finding.Class == c {
					return true
				}
			}
			return false
		}
	}
	updated := func(rev string) func(eventstest.Recorded) bool {
		return func(r eventstest.Recorded) bool {
			u, ok := r.Data.(*events.SourceUpdated)
			return ok && u.WS == "gitsrc" && u.Commit == rev
		}
	}

	s.WaitFor(t, 0, 2*time.Minute, "source.updated "+c1, updated(c1))
	s.WaitFor(t, 0, 3*time.Minute, "a full plan at "+c1, planAt(c1))
	if n := s.Count(0, func(r eventstest.Recorded) bool {
		d, ok := r.Data.(*events.DriftDetected)
		return ok && d.Finding.Class != events.ClassIgnored
	}); n != 0 {
		t.Fatalf("the applied configuration shows %d findings:\n%s", n, s.Describe(0))
	}

	const cm = "kubernetes_config_map.marketplace"
	var cmFinding events.Finding
	t.Run("ConfigChangeIsPendingConfigWithItsCommit", func(t *testing.T) {
		m := s.Mark()
		local := editFile(t, filepath.Join(w.Dir, "main.tf"), func(s string) string {
			return strings.Replace(s, `LOG_LEVEL            = "info"`, `LOG_LEVEL            = "debug"`, 1)
		})
		c2 := srv.Commit(t, "main", "debug logging", map[string]*string{path + "/main.tf": &local})
		s.WaitFor(t, m, time.Minute, "source.updated "+c2, updated(c2))
		r := s.WaitFor(t, m, 3*time.Minute, "pending-config at "+c2, detected(cm, events.ClassPendingConfig, c2))
		cmFinding = r.Data.(*events.DriftDetected).Finding
		t.Logf("%s", r.Data.Summary())
		// More plans at c2: the finding is not announced again, and is
		// never changed drift; each full plan carries the digest.
		after := s.Mark()
		pr := s.WaitFor(t, after, 2*time.Minute, "a plan at "+c2, planAt(c2))
		pc := pr.Data.(*events.PlanCompleted)
		want := "1 change merged at " + c2[:12] + " not applied yet"
		if len(pc.PendingConfig) != 1 || pc.PendingConfig[0] != (events.PendingConfig{Revision: c2, Count: 1}) || !strings.Contains(pc.Summary(), want) {
			t.Fatalf("plan.completed digest %+v, summary %q; want %q", pc.PendingConfig, pc.Summary(), want)
		}
		t.Logf("%s", pc.Summary())
		s.WaitFor(t, s.Mark(), 2*time.Minute, "another plan at "+c2, planAt(c2))
		if n := s.Count(m, driftOf(cm, events.ClassPendingConfig)); n != 1 {
			t.Fatalf("pending-config announced %d times, want once:\n%s", n, s.Describe(m))
		}
		if n := s.Count(m, driftOf(cm, events.ClassChanged, events.ClassDeleted)); n != 0 {
			t.Fatalf("an unapplied commit reported as drift:\n%s", s.Describe(m))
		}

		// Applied: resolved.
		m = s.Mark()
		apply(t, w)
		s.WaitFor(t, m, 3*time.Minute, "pending-config resolved after the apply", func(r eventstest.Recorded) bool {
			d, ok := r.Data.(*events.DriftResolved)
			return ok && d.Finding.ID == cmFinding.ID
		})
	})

	var c3 string
	const rb = "kubernetes_role_binding.marketplace"
	t.Run("RemovedBlockIsPendingDestroyNotDeleted", func(t *testing.T) {
		m := s.Mark()
		b, err := os.ReadFile(filepath.Join(w.Dir, "main.tf"))
		if err != nil {
			t.Fatal(err)
		}
		removed := removeBlock(t, string(b), `resource "kubernetes_role_binding" "marketplace" {`)
		c3 = srv.Commit(t, "main", "drop the role binding", map[string]*string{path + "/main.tf": &removed})
		r := s.WaitFor(t, m, 3*time.Minute, "pending-config destroy at "+c3, detected(rb, events.ClassPendingConfig, c3))
		t.Logf("%s", r.Data.Summary())
		s.WaitFor(t, s.Mark(), 2*time.Minute, "a plan at "+c3, planAt(c3))
		if n := s.Count(m, driftOf(rb, events.ClassDeleted, events.ClassChanged)); n != 0 {
			t.Fatalf("a removed block reported as drift:\n%s", s.Describe(m))
		}
	})

	t.Run("LiveScaleIsChangedPinnedToTheNewCommit", func(t *testing.T) {
		m := s.Mark()
		patch(t, l, "kubectl", "deployments", ns, "marketplace", `{"spec":{"replicas":5}}`)
		r := s.WaitFor(t, m, 3*time.Minute, "changed at "+c3, detected("kubernetes_deployment.marketplace", events.ClassChanged, c3))
		t.Logf("%s", r.Data.Summary())
	})

	t.Run("UnimportedIsJudgedAgainAtEachRevision", func(t *testing.T) {
		// An object created live by hand that a new commit declares is
		// unimported at that commit; the next commit announces it again
		// with the new revision (what the importer requests it at), the
		// finding keeping the commit that introduced it.
		ctx := context.Background()
		cmObj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "extra", Namespace: ns}, Data: map[string]string{"k": "v"}}
		if _, err := l.Kube().CoreV1().ConfigMaps(ns).Create(ctx, cmObj, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
			t.Fatal(err)
		}
		recordLive(t, l, env, events.ObjectRef{Cluster: "lab", Version: "v1", Kind: "ConfigMap", Namespace: ns, Name: "extra"})
		m := s.Mark()
		b, err := os.ReadFile(filepath.Join(w.Dir, "main.tf"))
		if err != nil {
			t.Fatal(err)
		}
		withExtra := removeBlock(t, string(b), `resource "kubernetes_role_binding" "marketplace" {`) + `
resource "kubernetes_config_map" "extra" {
  metadata {
    name      = "extra"
    namespace = "` + ns + `"
  }
  data = { k = "v" }
}
`
		c4 := srv.Commit(t, "main", "declare extra", map[string]*string{path + "/main.tf": &withExtra})
		r := s.WaitFor(t, m, 3*time.Minute, "unimported at "+c4, detected("kubernetes_config_map.extra", events.ClassUnimported, c4))
		t.Logf("%s", r.Data.Summary())
		m = s.Mark()
		c5 := srv.Commit(t, "main", "notes", map[string]*string{path + "/NOTES.md": gittest.Text("later\n")})
		r = s.WaitFor(t, m, 3*time.Minute, "unimported announced again at "+c5, func(r eventstest.Recorded) bool {
			d, ok := r.Data.(*events.DriftDetected)
			return ok && d.Finding.Address == "kubernetes_config_map.extra" && d.Finding.Class == events.ClassUnimported && d.Revision == c5
		})
		if d := r.Data.(*events.DriftDetected); d.Finding.Revision != c4 {
			t.Fatalf("the finding's revision %s, want the introducing %s", d.Finding.Revision, c4)
		}
		s.WaitFor(t, s.Mark(), 2*time.Minute, "another plan at "+c5, planAt(c5))
		if n := s.Count(m, driftOf("kubernetes_config_map.extra", events.ClassUnimported)); n != 1 {
			t.Fatalf("announced %d times at %s, want once:\n%s", n, c5, s.Describe(m))
		}
		c3 = c5 // the last good revision from here on
	})

	t.Run("RotatedTokenIsOneEventAndTheLastGoodRevisionIsPlanned", func(t *testing.T) {
		m := s.Mark()
		srv.SetToken("rotated-" + gitToken)
		failed := func(status string) func(eventstest.Recorded) bool {
			return func(r eventstest.Recorded) bool {
				h, ok := r.Data.(*events.ClusterHealth)
				return ok && h.Component == events.ComponentSource && h.WS == "gitsrc" && h.Condition == "FetchFailed" && h.Status == status
			}
		}
		r := s.WaitFor(t, m, time.Minute, "FetchFailed", failed("True"))
		h := r.Data.(*events.ClusterHealth)
		if h.Reason != "auth" || !strings.Contains(h.Message, "authentication failed") || !strings.Contains(h.Message, c3[:12]) {
			t.Fatalf("health %+v", h)
		}
		t.Logf("%s", h.Summary())
		s.WaitFor(t, s.Mark(), 2*time.Minute, "a plan at the last good revision", planAt(c3))
		s.WaitFor(t, s.Mark(), 2*time.Minute, "another plan at the last good revision", planAt(c3))
		if n := s.Count(m, failed("True")); n != 1 {
			t.Fatalf("%d FetchFailed events for one lasting failure, want 1", n)
		}
		srv.SetToken(gitToken)
		s.WaitFor(t, m, time.Minute, "FetchFailed cleared", failed("False"))
	})

	for _, r := range s.All() {
		if strings.Contains(string(r.Raw), gitToken) || strings.Contains(string(r.Raw), "CANARY") {
			t.Fatalf("the token is in an event: %s", r.Raw)
		}
	}
}
