package api

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice"
)

// deleteTenant serves DELETE /v1/tenants/{id} (operator only): the
// tenant's keys are destroyed and all its rows deleted. 404 for an
// unknown tenant, 409 for the operator's own.
func (h *Handler) deleteTenant(w http.ResponseWriter, r *http.Request, _ *sluice.APIKey) error {
	// Once begun, the deletion runs to its end even if the client goes
	// away: its first step destroys the tenant's keys, and what follows
	// only deletes rows nothing can open any more.
	ctx := context.WithoutCancel(r.Context())
	err := h.store.DeleteTenant(ctx, r.PathValue("id"))
	// Even on failure: its keys and sources may be gone anyway.
	h.keys.forget()
	h.sources.forget()
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
