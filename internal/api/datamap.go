package api

import (
	"net/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/datamap"
)

// getDataMap serves GET /v1/datamap: for each source, the event types seen,
// the subject types indexed, and which destination each type flows to with
// which fields. It is built from configuration and from observed types and
// paths, never from payload values.
func (h *Handler) getDataMap(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	m, err := datamap.Build(r.Context(), h.store, key.TenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}
