package api

import (
	"net/http"

	"github.com/sluicehq/sluice"
)

// resumeDestination serves POST /v1/destinations/{id}/resume: a
// destination paused by its circuit breaker is active again at once, its
// failures forgotten, and the deliveries the pause held back go now
// rather than after a probe. It answers 200 with the destination; 409
// when it is not paused.
func (h *Handler) resumeDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	ctx, id := r.Context(), r.PathValue("id")
	if err := h.store.ResumeDestination(ctx, key.TenantID, id); err != nil {
		return err
	}
	h.cfg.Wake()
	d, err := h.store.Destination(ctx, key.TenantID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDestinationJSON(d))
	return nil
}
