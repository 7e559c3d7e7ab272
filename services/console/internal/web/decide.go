package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/driftgate/driftgate/pkg/imports"
)

// decideTimeout bounds the wait for the importer's answer.
const decideTimeout = 30 * time.Second

// sendDecision signs a decision in by's name with the approver token and
// sends it through the importer's decide RPC, exactly as driftgate approve
// and reject do. The importer verifies it before anything is stored.
func (s *Server) sendDecision(ctx context.Context, id, verb, by, reason string) (imports.DecisionReply, error) {
	d := imports.Decision{ID: id, Verb: verb, By: by, Reason: strings.TrimSpace(reason)}
	if err := d.Validate(); err != nil {
		return imports.DecisionReply{}, err
	}
	if s.token == "" {
		return imports.DecisionReply{}, fmt.Errorf("the console has no approver token ($%s): it cannot sign decisions", s.tokenEnv)
	}
	d.Sign(s.token, s.now())
	ctx, cancel := context.WithTimeout(ctx, decideTimeout)
	defer cancel()
	r, err := imports.Decide(ctx, s.nc, d)
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, errors.New(r.Error)
	}
	return r, nil
}

// decide takes Approve/Reject from the requests and finding pages
// (POST /requests/{id}/decide): CSRF-checked, approvers only, signed in the
// logged-in person's name.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, p *Person) {
	if err := s.checkCSRF(r); err != nil {
		s.log.Warn("console: decision refused", "reason", err.Error(), "user", p.Name)
		s.render(w, r, http.StatusForbidden, "error", p, errorData{Title: "Refused", Message: "The form expired or did not come from this console (" + err.Error() + "); reload the page and try again."})
		return
	}
	id := r.PathValue("id")
	verb := r.PostFormValue("verb")
	if !p.CanDecide() {
		s.log.Warn("console: decision refused: not an approver", "user", p.Name, "role", p.Role, "request", id, "verb", verb)
		s.render(w, r, http.StatusForbidden, "error", p, errorData{Title: "Refused",
			Message: fmt.Sprintf("%s is a %s: only approvers can approve or reject imports.", p.Name, p.Role)})
		return
	}
	back := r.PostFormValue("back")
	if back != "" {
		back = safeNext(back)
	} else {
		back = "/requests"
	}
	rep, err := s.sendDecision(r.Context(), id, verb, p.Name, r.PostFormValue("reason"))
	q := url.Values{}
	if err != nil {
		s.log.Warn("console: decision not taken", "user", p.Name, "request", id, "verb", verb, "err", err)
		q.Set("error", fmt.Sprintf("%s %s: %v", verb, id, err))
	} else {
		s.log.Info("console: decision taken", "user", p.Name, "request", id, "verb", verb)
		status := ""
		if rep.Request != nil {
			status = " (status " + rep.Request.Status + ")"
		}
		q.Set("done", fmt.Sprintf("%s: %s by %s%s", id, map[string]string{imports.VerbApprove: "approved", imports.VerbReject: "rejected"}[verb], p.Name, status))
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	http.Redirect(w, r, back+sep+q.Encode(), http.StatusSeeOther)
}
