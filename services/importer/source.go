package importer

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/driftgate/driftgate/pkg/source"
	"github.com/driftgate/driftgate/services/importer/internal/execute"
)

// StepStale is the step of an import refused because its finding was
// judged on another configuration revision than the workspace's current one.
const StepStale = "stale"

func staleReason(judged, current string) string {
	if current == "" {
		current = "none recorded"
	} else {
		current = source.ShortSHA(current)
	}
	return fmt.Sprintf("stale: re-plan first (the finding was judged on revision %s, the workspace is now at %s)",
		source.ShortSHA(judged), current)
}

// staleRevision returns why rec is stale — its finding was judged on
// another configuration revision than the one the workspace's revision
// record names — or "" when it is current (or its workspace is a local
// dir).
func (s *Service) staleRevision(ctx context.Context, rec *RequestRecord) (string, error) {
	if rec.Revision == "" {
		return "", nil
	}
	cur, err := source.GetRevision(ctx, s.d.Buckets.State, rec.Workspace)
	if err != nil {
		return "", err
	}
	if cur == nil || cur.Commit != rec.Revision {
		c := ""
		if cur != nil {
			c = cur.Commit
		}
		return staleReason(rec.Revision, c), nil
	}
	return "", nil
}

// refuseStale ends an approved request whose revision is stale: failed at
// step stale, with the reason, and published (import.failed).
func (s *Service) refuseStale(ctx context.Context, rec *RequestRecord, why string) error {
	s.log.Warn("import refused", "request", rec.ID, "workspace", rec.Workspace, "address", rec.Address, "reason", why)
	s.finish(ctx, execute.Outcome{Request: execRequest(rec), Status: execute.Failed, Step: StepStale, Reason: why}, rec.Attempts)
	return nil
}

// openFromGit opens a workspace whose source is Git at the revision its
// record names (the planner's), reusing the opened one while the revision
// stays.
func (s *Service) openFromGit(ctx context.Context, name string) (*execute.Workspace, error) {
	wc, err := s.cfg.Workspace(name)
	if err != nil {
		return nil, err
	}
	f, err := s.repos.For(wc.Git())
	if err != nil {
		return nil, err
	}
	rev, dir, err := source.Follow(ctx, s.d.Buckets.State, f, name, *wc.Git())
	if err != nil {
		return nil, err
	}
	if w := s.opened[name]; w != nil && s.openedRev[name] == rev.Commit {
		return w, nil
	}
	w, _, err := openWorkspaceAt(ctx, s.cfg, name, dir, filepath.Join(s.workDir, name), s.env,
		s.journalOf(name))
	if err != nil {
		return nil, err
	}
	s.opened[name], s.openedRev[name] = w, rev.Commit
	s.log.Info("workspace opened at revision", "workspace", name, "revision", rev.Commit)
	return w, nil
}
