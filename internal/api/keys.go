package api

import (
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
)

func checkName(field, name string, required bool) error {
	switch {
	case required && name == "":
		return sluice.Errorf(sluice.EINVALID, "%s: required", field)
	case len(name) > sluice.MaxNameLen:
		return sluice.Errorf(sluice.EINVALID, "%s: at most %d bytes", field, sluice.MaxNameLen)
	}
	return nil
}

// tenantCreated is the answer to POST /v1/tenants: the new tenant and the
// token of its first admin key, shown this once.
type tenantCreated struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Token     string    `json:"token"`
	CreatedAt time.Time `json:"created_at"`
}

// createTenant serves POST /v1/tenants (operator only).
func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request, _ *sluice.APIKey) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := checkName("name", in.Name, true); err != nil {
		return err
	}
	token := sluice.NewToken()
	t := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: in.Name}
	k := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(token)}
	if err := h.store.CreateTenant(r.Context(), t, k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tenantCreated{ID: t.ID, Name: t.Name, Token: token, CreatedAt: t.CreatedAt})
	return nil
}

// keyCreated is the answer to POST /v1/keys: the key, and its token
// shown this once.
type keyCreated struct {
	keyJSON
	Token string `json:"token"`
}

// createKey serves POST /v1/keys.
func (h *Handler) createKey(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in struct {
		Name      string      `json:"name"`
		Role      sluice.Role `json:"role"`
		ExpiresAt *string     `json:"expires_at"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := checkName("name", in.Name, false); err != nil {
		return err
	}
	if !in.Role.Valid() {
		return sluice.Errorf(sluice.EINVALID, `role: must be "admin" or "viewer"`)
	}
	var expires time.Time
	if in.ExpiresAt != nil {
		t, err := parseTime("expires_at", *in.ExpiresAt)
		if err != nil {
			return err
		}
		if !t.After(h.now()) {
			return sluice.Errorf(sluice.EINVALID, "expires_at: must be in the future")
		}
		// Stored at millisecond precision; shown in UTC, as every time.
		expires = t.UTC().Truncate(time.Millisecond)
	}
	token := sluice.NewToken()
	k := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: key.TenantID, Name: in.Name, Role: in.Role,
		TokenHash: sluice.HashToken(token), ExpiresAt: expires}
	if err := h.store.CreateAPIKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyCreated{keyJSON: toKeyJSON(k), Token: token})
	return nil
}

// keyJSON is a key as GET /v1/keys shows it, for access reviews: never
// its token.
type keyJSON struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Role       sluice.Role `json:"role"`
	Operator   bool        `json:"operator"`
	CreatedAt  time.Time   `json:"created_at"`
	ExpiresAt  *time.Time  `json:"expires_at"`
	LastUsedAt *time.Time  `json:"last_used_at"`
}

// listKeys serves GET /v1/keys: the tenant's keys, newest first.
func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	keys, next, err := h.store.APIKeys(r.Context(), key.TenantID, page)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(keys, next, toKeyJSON))
	return nil
}

func toKeyJSON(k *sluice.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: k.Role, Operator: k.Operator, CreatedAt: k.CreatedAt,
		ExpiresAt: timeOrNull(k.ExpiresAt), LastUsedAt: timeOrNull(k.LastUsedAt)}
}

// timeOrNull is t for JSON, null when it is zero.
func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// deleteKey serves DELETE /v1/keys/{id}.
func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	defer h.keys.forget() // even on failure: the key may be gone anyway
	if err := h.store.DeleteAPIKey(r.Context(), key.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
