package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

// recoverDestination serves POST /v1/destinations/{id}/recover
// {"since": "…", "until": "…"}: every delivery to the destination that
// was exhausted in that window (until defaults to now) and whose payload
// is still retained is tried again as a new delivery, with the same
// webhook-id. It answers 202 with how many were re-queued.
func (h *Handler) recoverDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		Since *string `json:"since"`
		Until *string `json:"until"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return sluice.Errorf(sluice.EINVALID, "since: required, an RFC 3339 time such as 2026-01-02T15:04:05Z")
	}
	since, err := parseTime("since", *in.Since)
	if err != nil {
		return err
	}
	until := h.now()
	if in.Until != nil {
		if until, err = parseTime("until", *in.Until); err != nil {
			return err
		}
	}
	if !until.After(since) {
		return sluice.Errorf(sluice.EINVALID, "until: must be after since")
	}
	n, err := h.store.Recover(r.Context(), key.TenantID, r.PathValue("id"), since, until, h.cfg.FirstDelay)
	if err != nil {
		return err
	}
	if n > 0 {
		h.cfg.Wake()
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"recovered": n})
	return nil
}

// parseTime reads an RFC 3339 time given in field: EINVALID naming the
// field and the form, never the value.
func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, sluice.Errorf(sluice.EINVALID, "%s: must be an RFC 3339 time such as 2026-01-02T15:04:05Z", field)
	}
	return t, nil
}
