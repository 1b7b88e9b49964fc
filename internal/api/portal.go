package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

// Customers' portals: POST /v1/portal-sessions gives a link that signs one
// of the tenant's customers in, once, to the portal at /portal/ (see
// internal/ui), where they manage their own destinations;
// DELETE /v1/portal-sessions/{id} ends one. POST
// /v1/destinations/{id}/test sends a destination a test event.

// portalInput is the body of POST /v1/portal-sessions.
type portalInput struct {
	// Scope is {"customer": …, "payloads": …}, or the customer's id alone.
	Scope             json.RawMessage `json:"scope"`
	LinkTTLSeconds    *int            `json:"link_ttl_seconds"`
	SessionTTLSeconds *int            `json:"session_ttl_seconds"`
}

// portalScopeJSON is a portal session's scope as the API shows it.
type portalScopeJSON struct {
	Customer string `json:"customer"`
	Payloads bool   `json:"payloads"`
}

// portalSessionJSON is a portal session as its creation answers: the
// link's URL is shown this once.
type portalSessionJSON struct {
	ID                string          `json:"id"`
	URL               string          `json:"url"`
	Scope             portalScopeJSON `json:"scope"`
	LinkExpiresAt     time.Time       `json:"link_expires_at"`
	SessionTTLSeconds int             `json:"session_ttl_seconds"`
	CreatedAt         time.Time       `json:"created_at"`
}

// scope decodes the scope member: EINVALID for anything but an object of
// customer and payloads, or a string that is the customer.
func (in *portalInput) scope() (sluice.PortalScope, error) {
	raw := bytes.TrimSpace(in.Scope)
	if len(raw) > 0 && raw[0] == '"' {
		var customer string
		if err := json.Unmarshal(raw, &customer); err != nil {
			return sluice.PortalScope{}, sluice.Errorf(sluice.EINVALID, "scope: not a valid string")
		}
		return sluice.PortalScope{Customer: customer}, nil
	}
	if len(raw) == 0 || raw[0] != '{' {
		return sluice.PortalScope{}, sluice.Errorf(sluice.EINVALID, `scope: required, {"customer": "…", "payloads": false}`)
	}
	var s portalScopeJSON
	if err := decodeJSONFrom(bytes.NewReader(raw), &s); err != nil {
		return sluice.PortalScope{}, sluice.Errorf(sluice.EINVALID, "scope: %s", sluice.ErrorMessage(err))
	}
	return sluice.PortalScope{Customer: s.Customer, Payloads: s.Payloads}, nil
}

// seconds is a whole number of seconds given, or def.
func seconds(given *int, def time.Duration) time.Duration {
	if given == nil {
		return def
	}
	return time.Duration(*given) * time.Second
}

// createPortalSession serves POST /v1/portal-sessions: 201 with the
// sign-in link, which is kept nowhere but in the answer.
func (h *Handler) createPortalSession(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in portalInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	scope, err := in.scope()
	if err != nil {
		return err
	}
	token := sluice.NewToken()
	p := &sluice.PortalSession{TenantID: key.TenantID, Scope: scope, LinkHash: sluice.HashToken(token),
		LinkTTL: seconds(in.LinkTTLSeconds, sluice.DefaultPortalLinkTTL),
		TTL:     seconds(in.SessionTTLSeconds, sluice.DefaultPortalSessionTTL)}
	if err := h.store.CreatePortalSession(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, portalSessionJSON{ID: p.ID, URL: h.baseURL(r) + sluice.PortalSignInPath + token,
		Scope: portalScopeJSON{Customer: scope.Customer, Payloads: scope.Payloads}, LinkExpiresAt: p.LinkExpiresAt,
		SessionTTLSeconds: int(p.TTL / time.Second), CreatedAt: p.CreatedAt})
	return nil
}

// deletePortalSession serves DELETE /v1/portal-sessions/{id}: the link no
// longer works, and a browser signed in with it is signed out.
func (h *Handler) deletePortalSession(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	if err := h.store.DeletePortalSession(r.Context(), key.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testDestination serves POST /v1/destinations/{id}/test: 202 with the test
// event, delivered to this destination alone.
func (h *Handler) testDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	e, err := h.store.SendTestEvent(r.Context(), key.TenantID, r.PathValue("id"), h.cfg.FirstDelay)
	if err != nil {
		return err
	}
	h.cfg.Wake()
	writeJSON(w, http.StatusAccepted, toEventJSON(e))
	return nil
}
