package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

// keyRotated is the answer to POST /v1/tenants/{id}/rotate-key: ids only,
// never key material.
type keyRotated struct {
	TenantID      string    `json:"tenant_id"`
	KeyID         string    `json:"key_id"`
	PreviousKeyID string    `json:"previous_key_id"`
	RotatedAt     time.Time `json:"rotated_at"`
}

// rotateTenantKey serves POST /v1/tenants/{id}/rotate-key (an empty body
// or {}): the tenant gets a new data key that seals its new values from
// now on; the old ones keep opening what they sealed. The operator may
// rotate any tenant's key, an admin its own tenant's: another tenant is
// 404, as every resource of another tenant is.
func (h *Handler) rotateTenantKey(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	if r.ContentLength != 0 {
		var in struct{}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	tenantID := r.PathValue("id")
	if tenantID != key.TenantID && !key.Operator {
		return sluice.Errorf(sluice.ENOTFOUND, "tenant not found")
	}
	rot, err := h.store.RotateDataKey(r.Context(), tenantID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, keyRotated{TenantID: rot.TenantID, KeyID: rot.KeyID, PreviousKeyID: rot.PreviousKeyID,
		RotatedAt: rot.RotatedAt})
	return nil
}
