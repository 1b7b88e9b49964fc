package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/auditlog"
	"github.com/sluicehq/sluice/internal/inbound"
	"github.com/sluicehq/sluice/internal/privacy"
	"github.com/sluicehq/sluice/internal/subject"
)

// detectedSubjects adds to subjects every email address in a body of the
// content type (JSON, form-encoded, NDJSON, XML or any other text), when
// detection is on.
func (h *Handler) detectedSubjects(subjects []sluice.Subject, body []byte, contentType string) []sluice.Subject {
	if !h.cfg.DetectEmails {
		return subjects
	}
	for _, email := range subject.Emails(body, contentType) {
		subjects = append(subjects, sluice.Subject{Type: "email", Value: email})
	}
	return subjects
}

// pathSubjects returns the subjects a source's subject paths find in a
// message. A value that does not normalise is skipped: a provider's odd
// field must not refuse its webhook.
func pathSubjects(src *sluice.Source, msg *inbound.Message) []sluice.Subject {
	var out []sluice.Subject
	for _, p := range src.SubjectPaths {
		v, ok := msg.Lookup(p.Path)
		if !ok {
			continue
		}
		if n, err := subject.Normalize(subject.Subject{Type: p.Type, Value: v}); err == nil {
			out = append(out, sluice.Subject{Type: n.Type, Value: n.Value})
		}
	}
	return out
}

// erasureJSON is the answer to POST /v1/erasures.
type erasureJSON struct {
	ID             string    `json:"id"`
	EventsMatched  int       `json:"events_matched"`
	PayloadsErased int       `json:"payloads_erased"`
	CompletedAt    time.Time `json:"completed_at"`
}

// eraseSubject serves POST /v1/erasures: every payload linked to the
// subject is deleted now.
func (h *Handler) eraseSubject(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		Subject *subjectInput `json:"subject"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Subject == nil {
		return sluice.Errorf(sluice.EINVALID, `subject: required, e.g. {"type": "email", "value": "…"}`)
	}
	subj, err := privacy.Subject("subject", in.Subject.Type, in.Subject.Value)
	if err != nil {
		return err
	}
	e, err := h.store.EraseSubject(r.Context(), key.TenantID, subj)
	if err != nil {
		return err
	}
	h.cfg.Metrics.Erased()
	writeJSON(w, http.StatusOK, erasureJSON{ID: e.ID, EventsMatched: e.EventsMatched, PayloadsErased: e.PayloadsErased,
		CompletedAt: e.CompletedAt})
	return nil
}

// listErasures serves GET /v1/erasures: the tenant's erasure records,
// newest first, naming no subject.
func (h *Handler) listErasures(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	es, next, err := h.store.Erasures(r.Context(), key.TenantID, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(es, next, func(e *sluice.Erasure) erasureJSON {
		return erasureJSON{ID: e.ID, EventsMatched: e.EventsMatched, PayloadsErased: e.PayloadsErased,
			CompletedAt: e.CompletedAt}
	}))
	return nil
}

// exportSubject serves GET /v1/subjects/export?type=&value= (admin only):
// every retained payload linked to the subject. The export is audited,
// without the subject.
func (h *Handler) exportSubject(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	q := r.URL.Query()
	export, err := privacy.ExportSubject(r.Context(), h.store, key, q.Get("type"), q.Get("value"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, export)
	return nil
}

// erasePayload serves DELETE /v1/events/{id}/payload.
func (h *Handler) erasePayload(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	if err := h.store.ErasePayload(r.Context(), key.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// replayEvent serves POST /v1/events/{id}/replay: a new delivery to the
// destination named, or to every destination the event matches now, with
// the same webhook-id. 410 once the payload is gone.
func (h *Handler) replayEvent(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		DestinationID string `json:"destination_id"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	ds, err := h.store.Replay(r.Context(), key.TenantID, r.PathValue("id"), in.DestinationID, h.cfg.FirstDelay)
	if err != nil {
		return err
	}
	if len(ds) > 0 {
		h.cfg.Wake()
	}
	writeJSON(w, http.StatusAccepted, newList(ds, "", toDeliveryJSON))
	return nil
}

// auditJSON is one entry of the audit log.
type auditJSON struct {
	ID         string    `json:"id"`
	ActorKeyID *string   `json:"actor_key_id"`
	Action     string    `json:"action"`
	ResourceID *string   `json:"resource_id"`
	At         time.Time `json:"at"`
	// Changes are the fields a configuration change changed; empty for
	// any other entry. Secrets and URLs show as fingerprints.
	Changes []changeJSON `json:"changes"`
}

// changeJSON is one field an audited change changed: its values before
// and after, null where it was or is not set.
type changeJSON struct {
	Field string `json:"field"`
	Old   any    `json:"old"`
	New   any    `json:"new"`
}

func toAuditJSON(e *sluice.AuditEntry) auditJSON {
	out := auditJSON{ID: e.ID, Action: e.Action, At: e.At, Changes: make([]changeJSON, len(e.Changes))}
	for i, c := range e.Changes {
		out.Changes[i] = changeJSON(c)
	}
	if e.ActorKeyID != "" {
		out.ActorKeyID = &e.ActorKeyID
	}
	if e.ResourceID != "" {
		out.ResourceID = &e.ResourceID
	}
	return out
}

// listAudit serves GET /v1/audit: the entries that match the filters of
// auditFilterFrom, a page as JSON or, with ?format=csv, all of them as a
// CSV download with the names of the keys and resources they name.
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	f, err := auditFilterFrom(r)
	if err != nil {
		return err
	}
	csv, err := wantsCSV(r)
	if err != nil {
		return err
	}
	if csv {
		return auditlog.ServeCSV(w, r, h.store, key.TenantID, f, h.logger)
	}
	entries, next, err := h.store.AuditEntries(r.Context(), key.TenantID, f, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(entries, next, toAuditJSON))
	return nil
}

// auditFilterFrom reads GET /v1/audit's filters: actor_key_id, action (or
// a prefix of actions ending in a dot), resource_id, and the RFC 3339
// times since and until. A filter given empty or of the wrong shape is
// EINVALID naming it.
func auditFilterFrom(r *http.Request) (sluice.AuditFilter, error) {
	q := r.URL.Query()
	for _, name := range []string{"actor_key_id", "action", "resource_id", "since", "until"} {
		if q.Has(name) && q.Get(name) == "" {
			return sluice.AuditFilter{}, sluice.Errorf(sluice.EINVALID, "%s: must not be empty; leave it out to match every entry", name)
		}
	}
	f := sluice.AuditFilter{ActorKeyID: q.Get("actor_key_id"), Action: q.Get("action"), ResourceID: q.Get("resource_id")}
	var err error
	if v := q.Get("since"); v != "" {
		if f.Since, err = parseTime("since", v); err != nil {
			return f, err
		}
	}
	if v := q.Get("until"); v != "" {
		if f.Until, err = parseTime("until", v); err != nil {
			return f, err
		}
	}
	return f, f.Validate()
}

// isIntegrity reports whether err is a failed integrity check of stored data.
func isIntegrity(err error) bool { return errors.Is(err, sluice.ErrIntegrity) }
