package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/signature"
)

// Bounds of a rotation's grace period.
const (
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 30 * 24 * time.Hour
)

// rotateSecret serves POST /v1/destinations/{id}/rotate-secret
// {"grace_period": "24h"}: a new secret signs from now on, and the old one
// signs beside it until the grace period ends, so receivers can switch
// without dropping a delivery. "0s" ends the old secret at once.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		GracePeriod *string `json:"grace_period"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	if _, err := gracePeriod(in.GracePeriod); err != nil {
		return err
	}
	ctx := r.Context()
	d, err := h.store.Destination(ctx, key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := RotateSecret(d, in.GracePeriod, h.now()); err != nil {
		return err
	}
	// The store audits a new secret as destination.secret_rotate, with
	// the fingerprints of the secrets before and after.
	if err := h.store.UpdateDestination(ctx, d); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": d.Secret})
	return nil
}

// gracePeriod reads a rotation's grace period: the default when not
// given, EINVALID for one out of bounds.
func gracePeriod(given *string) (time.Duration, error) {
	if given == nil {
		return defaultGracePeriod, nil
	}
	d, err := time.ParseDuration(*given)
	if err != nil || d < 0 || d > maxGracePeriod {
		return 0, sluice.Errorf(sluice.EINVALID, "grace_period: must be a duration from 0s to %s, such as 24h", maxGracePeriod)
	}
	return d, nil
}

// RotateSecret gives d a new secret, not yet stored, as POST
// /v1/destinations/{id}/rotate-secret does: the old one signs beside it
// until grace (nil: the default, 24h) from now has passed; "0s" ends it at
// once. EINVALID for a grace period out of bounds. Storing d audits the
// rotation.
func RotateSecret(d *sluice.Destination, grace *string, now time.Time) error {
	g, err := gracePeriod(grace)
	if err != nil {
		return err
	}
	d.PreviousSecret, d.PreviousSecretUntil = "", time.Time{}
	if g > 0 {
		d.PreviousSecret, d.PreviousSecretUntil = d.Secret, now.Add(g)
	}
	d.Secret = signature.NewSecret()
	return nil
}
