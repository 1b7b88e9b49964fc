package api

import (
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// access is what a route demands of the request's key.
type access int

const (
	anyRole      access = iota // any key of the tenant: reads of metadata
	adminOnly                  // an admin key: writes, payloads and secrets
	operatorOnly               // the operator key: creating and deleting tenants
)

// apiFunc is a route's handler once the request is authenticated. It returns
// an error instead of writing one, so errors are answered in one place.
type apiFunc func(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error

// route registers fn behind bearer authentication and the access check. The
// request's context carries the key as the Actor of any change it makes.
func (h *Handler) route(pattern string, need access, fn apiFunc) {
	h.handle(pattern, h.handler(need, fn))
}

// handler is the HTTP handler of fn: see route.
func (h *Handler) handler(need access, fn apiFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := h.authenticate(r)
		if err == nil {
			err = authorize(key, need)
		}
		if err == nil {
			ctx := sluice.WithActor(r.Context(), sluice.Actor{TenantID: key.TenantID, KeyID: key.ID})
			err = fn(w, r.WithContext(ctx), key)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	}
}

// authenticate finds the key of the request's bearer token and records
// its use: EUNAUTHORIZED when there is none, it is unknown or it has
// expired.
func (h *Handler) authenticate(r *http.Request) (*sluice.APIKey, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, sluice.Errorf(sluice.EUNAUTHORIZED, "an Authorization: Bearer <token> header is required")
	}
	key, err := h.keyOf(r, sluice.HashToken(strings.TrimSpace(token)))
	if err != nil {
		return nil, err
	}
	now := h.now()
	if key.Expired(now) {
		return nil, sluice.Errorf(sluice.EUNAUTHORIZED, "the bearer token has expired")
	}
	h.cfg.KeyUse.Used(r.Context(), key, now)
	return key, nil
}

// keyOf returns the key of a token hash, from the cache when it is
// fresh: EUNAUTHORIZED when there is none.
func (h *Handler) keyOf(r *http.Request, hash []byte) (*sluice.APIKey, error) {
	now := h.now()
	if key, ok := h.keys.get(string(hash), now); ok {
		return key, nil
	}
	key, err := h.store.KeyByTokenHash(r.Context(), hash)
	switch sluice.ErrorCode(err) {
	case "":
		h.keys.put(string(hash), key, now)
		return key, nil
	case sluice.ENOTFOUND:
		return nil, sluice.Errorf(sluice.EUNAUTHORIZED, "the bearer token is not valid")
	default:
		return nil, err
	}
}

// authorize checks that key may use a route demanding need: EFORBIDDEN if not.
func authorize(key *sluice.APIKey, need access) error {
	switch {
	case need == operatorOnly && !key.Operator:
		return sluice.Errorf(sluice.EFORBIDDEN, "only the operator token may do this")
	case need == adminOnly:
		return key.RequireAdmin()
	}
	return nil
}
