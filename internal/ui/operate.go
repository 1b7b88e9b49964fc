package ui

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/privacy"
)

// The operator's actions on deliveries: replay an event, recover a
// destination's exhausted deliveries, resume a paused destination; and the
// confirmation step every destructive action goes through. Each does what
// the JSON API does for the same request (the store's Replay, Recover and
// ResumeDestination, which write the same audit entries), refused to a
// viewer in the API's words.

// confirmView is a destructive action's second step: what it will do,
// and a form posting the same fields again with confirm=1. Browsers
// without JavaScript get it too: a click alone never destroys anything.
type confirmView struct {
	Heading string
	Effects []string
	Action  string // where the confirming form posts
	Fields  []formField
	Button  string
	Cancel  string // where "Cancel" leads
}

type formField struct{ Name, Value string }

// confirmed reports whether the form is the confirming second step.
func confirmed(r *http.Request) bool { return r.PostFormValue("confirm") == "1" }

// confirm renders the confirmation step of a destructive action.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, s *session, v confirmView) {
	h.render(w, r, s, http.StatusOK, "confirm.html", v)
}

// destinationNames maps each of the tenant's destinations' ids to its
// name, for pages that show deliveries.
func (h *Handler) destinationNames(ctx context.Context, tenantID string) ([]*sluice.Destination, map[string]string, error) {
	dests, err := sluice.ListAll(func(p sluice.Page) ([]*sluice.Destination, string, error) {
		return h.cfg.Store.Destinations(ctx, tenantID, p)
	})
	if err != nil {
		return nil, nil, err
	}
	names := make(map[string]string, len(dests))
	for _, d := range dests {
		names[d.ID] = d.Name
	}
	return dests, names, nil
}

// replay sends an event again, as POST /v1/events/{id}/replay does: to the
// destination the form names, or with "all" to every destination the
// event matches now.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request, s *session) {
	id, to := r.PathValue("id"), r.PostFormValue("destination_id")
	page := "/ui/events/" + id
	if to == "all" {
		to = ""
	}
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, page, "Not replayed", err)
		return
	}
	ds, err := h.cfg.Store.Replay(r.Context(), s.key.TenantID, id, to, h.cfg.FirstDelay)
	if err != nil {
		h.notDone(w, r, page, "Not replayed", err)
		return
	}
	if len(ds) == 0 {
		back(w, r, page, "No destination matches this event now: nothing was replayed.")
		return
	}
	h.cfg.Wake()
	_, names, err := h.destinationNames(r.Context(), s.key.TenantID)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	named := make([]string, len(ds))
	for i, d := range ds {
		named[i] = names[d.DestinationID] + " (" + d.DestinationID + ")"
	}
	back(w, r, page, fmt.Sprintf("Replayed to %d destination%s: %s.", len(ds), plural(len(ds), "", "s"), strings.Join(named, ", ")))
}

// plural picks one or many by n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// recoverView is the page where a destination's deliveries are
// recovered and a paused destination is resumed.
type recoverView struct {
	Destination  *sluice.Destination
	Since, Until string // the recover form's, in timeInput's layout
}

// destinationActions shows the recover form and, while the destination is
// paused, the resume button.
func (h *Handler) destinationActions(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := h.cfg.Store.Destination(r.Context(), s.key.TenantID, r.PathValue("id"))
	switch {
	case sluice.ErrorCode(err) == sluice.ENOTFOUND:
		h.render(w, r, s, http.StatusNotFound, "error.html", errorView{Message: "There is no such destination."})
		return
	case err != nil:
		h.fail(w, r, s, err)
		return
	}
	now := h.cfg.Now().UTC()
	// Until is left empty, meaning now when the form is sent: a minute
	// filled in here would miss what is exhausted before then.
	h.render(w, r, s, http.StatusOK, "recover.html", recoverView{Destination: d,
		Since: now.Add(-24 * time.Hour).Format(timeInput)})
}

// recoverWindow retries a destination's exhausted deliveries of a window,
// as POST /v1/destinations/{id}/recover does, after a confirmation step.
// The window is read from datetime-local inputs, in UTC; until defaults
// to now.
func (h *Handler) recoverWindow(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, id := r.Context(), r.PathValue("id")
	page := "/ui/destinations/" + id + "/recover"
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, page, "Not recovered", err)
		return
	}
	d, err := h.cfg.Store.Destination(ctx, s.key.TenantID, id)
	if err != nil {
		h.notDone(w, r, "/ui/destinations", "Not recovered", err)
		return
	}
	sinceText, untilText := r.PostFormValue("since"), r.PostFormValue("until")
	since, until, err := recoverWindowOf(sinceText, untilText, h.cfg.Now())
	if err != nil {
		h.notDone(w, r, page, "Not recovered", err)
		return
	}
	if !confirmed(r) {
		end := when(until) + " UTC"
		if untilText == "" {
			end = "now"
		}
		h.confirm(w, r, s, confirmView{
			Heading: "Recover the exhausted deliveries to " + d.Name + "?",
			Effects: []string{
				"Every delivery to " + d.Name + " (" + d.ID + ") that was exhausted between " + when(since) + " UTC and " + end + ", and whose payload is still retained, is sent again as a new delivery with the same webhook-id.",
				"The receiver may get events it already processed: it should deduplicate on webhook-id.",
				"The recovery is in the audit log.",
			},
			Action: "/ui/destinations/" + id + "/recover",
			Fields: []formField{{"since", sinceText}, {"until", untilText}},
			Button: "Recover", Cancel: page,
		})
		return
	}
	n, err := h.cfg.Store.Recover(ctx, s.key.TenantID, id, since, until, h.cfg.FirstDelay)
	if err != nil {
		h.notDone(w, r, page, "Not recovered", err)
		return
	}
	if n > 0 {
		h.cfg.Wake()
	}
	back(w, r, page, fmt.Sprintf("Recovered %d deliver%s to %s.", n, plural(n, "y", "ies"), d.Name))
}

// recoverWindowOf reads the recover form's window: since is required,
// until defaults to now and must be after since (the API's rule, in its
// words). EINVALID naming the field.
func recoverWindowOf(sinceText, untilText string, now time.Time) (since, until time.Time, err error) {
	if sinceText == "" {
		return since, until, sluice.Errorf(sluice.EINVALID, "since: required, a date and time (UTC)")
	}
	if since, err = time.Parse(timeInput, sinceText); err != nil {
		return since, until, sluice.Errorf(sluice.EINVALID, "since: must be a date and time such as 2026-01-02T15:04 (UTC)")
	}
	until = now
	if untilText != "" {
		if until, err = time.Parse(timeInput, untilText); err != nil {
			return since, until, sluice.Errorf(sluice.EINVALID, "until: must be a date and time such as 2026-01-02T15:04 (UTC)")
		}
	}
	if !until.After(since) {
		return since, until, sluice.Errorf(sluice.EINVALID, "until: must be after since")
	}
	return since, until, nil
}

// when shows a time as the pages do.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// resume ends a circuit-breaker pause by hand, as POST
// /v1/destinations/{id}/resume does.
func (h *Handler) resume(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	to := r.PostFormValue("back")
	if to != "/ui/destinations" {
		to = "/ui/destinations/" + id + "/recover"
	}
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, to, "Not resumed", err)
		return
	}
	if err := h.cfg.Store.ResumeDestination(r.Context(), s.key.TenantID, id); err != nil {
		h.notDone(w, r, to, "Not resumed", err)
		return
	}
	h.cfg.Wake()
	back(w, r, to, "Destination "+id+" resumed: its waiting deliveries go now.")
}

// confirmDisable is the kill switch's confirmation step, after the checks
// the switch itself makes: a viewer or an unknown destination is refused
// at once.
func (h *Handler) confirmDisable(w http.ResponseWriter, r *http.Request, s *session, id string) {
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, "/ui/destinations", "Not changed", err)
		return
	}
	d, err := h.cfg.Store.Destination(r.Context(), s.key.TenantID, id)
	if err != nil {
		h.notDone(w, r, "/ui/destinations", "Not changed", err)
		return
	}
	h.confirm(w, r, s, confirmView{
		Heading: "Disable " + d.Name + "?",
		Effects: []string{
			"Nothing is sent to " + d.Name + " (" + d.ID + ") until it is enabled again.",
			"Its deliveries are not failed: new and waiting ones stay pending, and go when it is enabled.",
			"The change is in the audit log.",
		},
		Action: "/ui/destinations/" + id + "/enabled",
		Fields: []formField{{"enabled", "false"}},
		Button: "Disable", Cancel: "/ui/destinations",
	})
}

// confirmErase is the erasure's confirmation step, after the checks the
// erasure makes: a viewer, or a subject that does not normalise, is
// refused at once. The value typed is shown back on this page only, to be
// checked before it is too late; it is never logged.
func (h *Handler) confirmErase(w http.ResponseWriter, r *http.Request, s *session) {
	typ, value := r.PostFormValue("type"), r.PostFormValue("value")
	if err := s.key.RequireAdmin(); err != nil {
		h.notDone(w, r, "/ui/privacy", "Not erased", err)
		return
	}
	subj, err := privacy.Subject("subject", typ, value)
	if err != nil {
		h.notDone(w, r, "/ui/privacy", "Not erased", err)
		return
	}
	h.confirm(w, r, s, confirmView{
		Heading: "Erase every payload about this subject?",
		Effects: []string{
			"Subject: " + subj.Type + " " + subj.Value + ".",
			"Every retained payload linked to it is deleted for good, and the pending deliveries of those events are cancelled. This cannot be undone.",
			"Event metadata stays; the erasure is in the audit log under the subject's keyed hash, never its value.",
		},
		Action: "/ui/erasures",
		Fields: []formField{{"type", typ}, {"value", value}},
		Button: "Erase every payload", Cancel: "/ui/privacy",
	})
}
