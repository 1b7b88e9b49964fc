package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/privacy"
)

// The dashboard's changes and audited reads. Each applies what the JSON API
// applies to the same request: an admin key, the domain's rules and the
// same audit entries, with the API's messages.

// notDone sends a form back to its page with the reason its change was not
// made, in the API's words. An internal error is logged and shown without
// detail.
func (h *Handler) notDone(w http.ResponseWriter, r *http.Request, to, what string, err error) {
	if sluice.ErrorCode(err) == sluice.EINTERNAL {
		h.cfg.Logger.ErrorContext(r.Context(), "ui: action", slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	back(w, r, to, what+": "+dashboardWording(sluice.ErrorMessage(err)))
}

// switchDestination is the kill switch: it enables or disables a
// destination.
func (h *Handler) switchDestination(w http.ResponseWriter, r *http.Request, s *session) {
	id, enable := r.PathValue("id"), r.PostFormValue("enabled") == "true"
	if !enable && !confirmed(r) {
		h.confirmDisable(w, r, s, id)
		return
	}
	if err := h.setEnabled(r.Context(), s.key, id, enable); err != nil {
		h.notDone(w, r, "/ui/destinations", "Not changed", err)
		return
	}
	state := "disabled"
	if enable {
		state = "enabled"
	}
	back(w, r, "/ui/destinations", "Destination "+id+" "+state+".")
}

// setEnabled turns a destination's switch, as PATCH /v1/destinations/{id}
// with "enabled" does, and wakes the dispatcher when the destination's
// waiting deliveries become due.
func (h *Handler) setEnabled(ctx context.Context, key *sluice.APIKey, id string, enable bool) error {
	if err := key.RequireAdmin(); err != nil {
		return err
	}
	d, err := h.cfg.Store.Destination(ctx, key.TenantID, id)
	if err != nil {
		return err
	}
	wasEnabled := d.Enabled
	d.SetEnabled(enable)
	if err := h.cfg.Store.UpdateDestination(ctx, d); err != nil {
		return err
	}
	if d.Enabled && !wasEnabled {
		h.cfg.Wake()
	}
	return nil
}

// revealPayload shows an event's payload on an explicit request, to an
// admin only, and audits the read.
func (h *Handler) revealPayload(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := h.eventView(r, s)
	if err != nil {
		h.eventPage(w, r, s)
		return
	}
	status := http.StatusOK
	err = h.readPayload(r.Context(), s.key, v)
	switch sluice.ErrorCode(err) {
	case "":
	case sluice.EFORBIDDEN:
		status, v.Payload = http.StatusForbidden, "The payload could not be read: "+sluice.ErrorMessage(err)
	default:
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, s, status, "event.html", v)
}

// readPayload reads the payload of v's event into v as GET /v1/events/{id}
// does for an admin: a retained payload is read and the read audited; one
// past its expiry but not yet purged is expired already; one that fails its
// integrity check is not shown. EFORBIDDEN for a viewer.
func (h *Handler) readPayload(ctx context.Context, key *sluice.APIKey, v *eventView) error {
	if err := key.RequireAdmin(); err != nil {
		return err
	}
	ev := v.Event
	if ev.PayloadState != sluice.PayloadRetained {
		v.Payload = "No payload is shown: it is " + string(ev.PayloadState) + "."
		return nil
	}
	p, err := h.cfg.Store.Payload(ctx, key.TenantID, ev.ID)
	switch {
	case sluice.ErrorCode(err) == sluice.EGONE:
		ev.PayloadState = sluice.PayloadExpired
		v.Payload = "No payload is shown: it is " + string(ev.PayloadState) + "."
		return nil
	case errors.Is(err, sluice.ErrIntegrity):
		h.cfg.Logger.ErrorContext(ctx, "payload failed its integrity check", "event_id", ev.ID)
		v.Payload = "The payload failed its integrity check."
		return nil
	case err != nil:
		return err
	}
	if err := h.cfg.Store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
		Action: "event.payload_read", ResourceID: ev.ID}); err != nil {
		return err
	}
	var pretty bytes.Buffer
	_ = json.Indent(&pretty, privacy.PayloadJSON(p.Body), "", "  ") // PayloadJSON is valid JSON
	v.Payload, v.Shown = pretty.String(), true
	return nil
}

// erase erases every payload about the subject the form names and shows
// the outcome. The subject's value is never shown back or logged.
func (h *Handler) erase(w http.ResponseWriter, r *http.Request, s *session) {
	if !confirmed(r) {
		h.confirmErase(w, r, s)
		return
	}
	e, err := h.eraseSubject(r.Context(), s.key, r.PostFormValue("type"), r.PostFormValue("value"))
	if err != nil {
		h.notDone(w, r, "/ui/privacy", "Not erased", err)
		return
	}
	v, err := h.privacyView(r, s)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	v.Erasure = e
	h.render(w, r, s, http.StatusOK, "privacy.html", v)
}

// eraseSubject erases as POST /v1/erasures does: the store records the
// erasure in the audit log, and it is counted. EFORBIDDEN for a viewer,
// EINVALID for a subject that does not normalise.
func (h *Handler) eraseSubject(ctx context.Context, key *sluice.APIKey, typ, value string) (*sluice.Erasure, error) {
	if err := key.RequireAdmin(); err != nil {
		return nil, err
	}
	subj, err := privacy.Subject("subject", typ, value)
	if err != nil {
		return nil, err
	}
	e, err := h.cfg.Store.EraseSubject(ctx, key.TenantID, subj)
	if err != nil {
		return nil, err
	}
	h.cfg.Metrics.Erased()
	return e, nil
}

// export downloads every retained payload about the subject the form
// names, in the JSON of GET /v1/subjects/export. The export is audited.
func (h *Handler) export(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := privacy.ExportSubject(r.Context(), h.cfg.Store, s.key, r.PostFormValue("type"), r.PostFormValue("value"))
	if err != nil {
		h.notDone(w, r, "/ui/privacy", "Not exported", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="subject-export.json"`)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // payloads come back as they went in, as from the API
	_ = enc.Encode(out)      // a failed write means the client went away
}
