package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/signature"
)

// destinationJSON is a destination as the API shows it. The secret appears
// only when the destination is created; GET …/secret reads it after that.
type destinationJSON struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Customer           string   `json:"customer,omitempty"`
	URL                string   `json:"url"`
	EventTypes         []string `json:"event_types"`
	SourceIDs          []string `json:"source_ids"`
	Fields             []string `json:"fields"`
	RateLimitPerSecond *int     `json:"rate_limit_per_second"`
	Enabled            bool     `json:"enabled"`
	State              string   `json:"state"`
	DisabledReason     string   `json:"disabled_reason,omitempty"`
	// Health: the failed attempts in a row, since when, and while the
	// circuit breaker holds deliveries back (state "paused"), why and when
	// one probe goes.
	ConsecutiveFailures int        `json:"consecutive_failures"`
	FailingSince        *time.Time `json:"failing_since"`
	PausedReason        string     `json:"paused_reason,omitempty"`
	NextProbeAt         *time.Time `json:"next_probe_at,omitempty"`
	Secret              string     `json:"secret,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	// Kind is "http", or "listen" for a destination `sluice listen`
	// created (no URL), which lives until ListenUntil unless its listener
	// claims from it again.
	Kind        string     `json:"kind"`
	ListenUntil *time.Time `json:"listen_until,omitempty"`
	exposureJSON
	processingJSON
}

func toDestinationJSON(d *sluice.Destination) destinationJSON {
	out := destinationJSON{
		ID: d.ID, Name: d.Name, Customer: d.Customer, URL: d.URL, EventTypes: d.EventTypes, SourceIDs: d.SourceIDs, Fields: d.Fields,
		Enabled: d.Enabled, State: d.State(), DisabledReason: d.DisabledReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Kind: sluice.KindHTTP,
		exposureJSON: toExposureJSON(d), processingJSON: toProcessingJSON(d.Processing),
	}
	if d.Listening() {
		out.Kind, out.ListenUntil = sluice.KindListen, &d.ListenUntil
	}
	if out.SourceIDs == nil {
		out.SourceIDs = []string{}
	}
	out.ConsecutiveFailures = d.Failures
	if !d.FailingSince.IsZero() {
		out.FailingSince = &d.FailingSince
	}
	if out.State == sluice.StatePaused {
		out.PausedReason = "consecutive_failures"
		out.NextProbeAt = &d.PausedUntil
	}
	if d.RateLimitPerSecond > 0 {
		out.RateLimitPerSecond = &d.RateLimitPerSecond
	}
	return out
}

// destinationInput is the body of POST and PATCH /v1/destinations: a nil
// field is left as it is (PATCH) or takes its default (POST).
type destinationInput struct {
	Name               *string         `json:"name"`
	Customer           *string         `json:"customer"`
	URL                *string         `json:"url"`
	EventTypes         *[]string       `json:"event_types"`
	SourceIDs          *[]string       `json:"source_ids"`
	Fields             json.RawMessage `json:"fields"` // null: the whole payload again
	RateLimitPerSecond *int            `json:"rate_limit_per_second"`
	Secret             *string         `json:"secret"`
	Enabled            *bool           `json:"enabled"`
	exposureInput
	processingJSON
}

// apply sets in's fields on d and validates the result (see
// applyDestination).
func (h *Handler) apply(ctx context.Context, policy safehttp.Policy, in *destinationInput, d *sluice.Destination) error {
	return applyDestination(ctx, h.store, h.cfg.Resolver, policy, in, d)
}

// applyDestination sets in's fields on d and validates the result: EINVALID
// naming the first field that is wrong. The URL is checked only when given,
// as the check may ask DNS; the switch alone is never refused, so a
// destination stored under older rules can still be turned off.
func applyDestination(ctx context.Context, st RuleStore, resolver safehttp.Resolver, policy safehttp.Policy,
	in *destinationInput, d *sluice.Destination) error {
	if len(in.Fields) > 0 {
		fields, err := fieldAllowlist(in.Fields)
		if err != nil {
			return err
		}
		d.Fields = fields
	}
	if in.RateLimitPerSecond != nil {
		d.RateLimitPerSecond = *in.RateLimitPerSecond
	}
	if in.Name != nil {
		d.Name = *in.Name
	}
	if in.EventTypes != nil {
		d.EventTypes = *in.EventTypes
	}
	if in.SourceIDs != nil {
		d.SourceIDs = *in.SourceIDs
	}
	if in.Customer != nil {
		d.Customer = *in.Customer
	}
	if err := in.exposureInput.apply(d); err != nil {
		return err
	}
	in.processingJSON.apply(&d.Processing)
	configured := len(in.Fields) > 0 || in.RateLimitPerSecond != nil || in.Name != nil || in.EventTypes != nil ||
		in.SourceIDs != nil || in.Customer != nil || in.exposureInput.given() || in.processingJSON.given()
	if configured {
		if err := d.Validate(); err != nil {
			return err
		}
	}
	if in.SourceIDs != nil {
		if err := checkSourcesExist(ctx, st, d.TenantID, d.SourceIDs); err != nil {
			return err
		}
	}
	if in.Name != nil || in.Customer != nil {
		if err := sluice.CheckDestinationName(ctx, st, d); err != nil {
			return err
		}
	}
	if in.URL != nil {
		if err := policy.CheckDestinationURL(ctx, resolver, *in.URL); err != nil {
			return err
		}
		d.URL = *in.URL
	}
	if in.Secret != nil {
		if _, err := signature.ParseSecret(*in.Secret); err != nil {
			return sluice.Errorf(sluice.EINVALID, "secret: must be whsec_ followed by standard base64 of 24 to 64 bytes")
		}
		d.Secret = *in.Secret
	}
	if in.Enabled != nil {
		d.SetEnabled(*in.Enabled)
	}
	return nil
}

// checkSourcesExist refuses source ids the tenant has no source of:
// EINVALID naming the first, as a destination filtered on it would never
// receive anything.
func checkSourcesExist(ctx context.Context, st RuleStore, tenantID string, ids []string) error {
	for i, id := range ids {
		_, err := st.Source(ctx, tenantID, id)
		switch {
		case sluice.ErrorCode(err) == sluice.ENOTFOUND:
			return sluice.Errorf(sluice.EINVALID, "source_ids[%d]: no source %s of this tenant", i, id)
		case err != nil:
			return err
		}
	}
	return nil
}

// policyFor is the address policy for a destination given in request r:
// the gateway's, with the hosts r reached it by counted as its own.
func (h *Handler) policyFor(r *http.Request) safehttp.Policy {
	p := h.policy
	p.Self = p.Self.WithHost(h.cfg.Origin.Hosts(r)...)
	return p
}

// createDestination serves POST /v1/destinations.
func (h *Handler) createDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in destinationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	d, err := newDestination(r.Context(), h.store, h.cfg.Resolver, h.policyFor(r), key.TenantID, &in)
	if err != nil {
		return err
	}
	return h.insertDestination(w, r, d)
}

// newDestination is a new destination of tenantID as in gives it, with
// the API's defaults (every event type but Sluice's own, enabled), not
// yet stored and without its secret.
func newDestination(ctx context.Context, st RuleStore, resolver safehttp.Resolver, policy safehttp.Policy,
	tenantID string, in *destinationInput) (*sluice.Destination, error) {
	if in.URL == nil {
		return nil, sluice.Errorf(sluice.EINVALID, "url: required")
	}
	if in.Name == nil {
		return nil, sluice.Errorf(sluice.EINVALID, "name: required, a name no other destination of the tenant has")
	}
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID,
		EventTypes: []string{"*"}, Enabled: true}
	if err := applyDestination(ctx, st, resolver, policy, in, d); err != nil {
		return nil, err
	}
	return d, nil
}

// insertDestination stores a new destination, with a new secret unless
// it was given one, and answers 201 with it and its secret: the one
// answer that shows the secret besides GET …/secret.
func (h *Handler) insertDestination(w http.ResponseWriter, r *http.Request, d *sluice.Destination) error {
	if d.Secret == "" {
		d.Secret = signature.NewSecret()
	}
	if err := h.store.CreateDestination(r.Context(), d); err != nil {
		return err
	}
	out := toDestinationJSON(d)
	out.Secret = d.Secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// listDestinations serves GET /v1/destinations.
func (h *Handler) listDestinations(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	page, err := pageFrom(r)
	if err != nil {
		return err
	}
	var ds []*sluice.Destination
	var next string
	if customer := r.URL.Query().Get("customer"); customer != "" {
		ds, next, err = h.store.CustomerDestinations(r.Context(), key.TenantID, customer, page)
	} else {
		ds, next, err = h.store.Destinations(r.Context(), key.TenantID, page)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newList(ds, next, toDestinationJSON))
	return nil
}

// getDestination serves GET /v1/destinations/{id}.
func (h *Handler) getDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	d, err := h.store.Destination(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDestinationJSON(d))
	return nil
}

// updateDestination serves PATCH /v1/destinations/{id}. The secret is not
// among what PATCH changes: a new secret is a rotation, with a grace period
// in which both sign.
func (h *Handler) updateDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in destinationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Secret != nil {
		return errSecretByPatch
	}
	d, err := h.store.Destination(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	wasEnabled := d.Enabled
	if err := changeDestination(r.Context(), h.store, h.cfg.Resolver, h.policyFor(r), &in, d); err != nil {
		return err
	}
	if err := h.store.UpdateDestination(r.Context(), d); err != nil {
		return err
	}
	if d.Enabled && !wasEnabled {
		h.cfg.Wake() // its waiting deliveries are due now
	}
	writeJSON(w, http.StatusOK, toDestinationJSON(d))
	return nil
}

var errSecretByPatch = sluice.Errorf(sluice.EINVALID, "secret: cannot be changed by PATCH; rotate it instead")

// changeDestination applies a PATCH to d, not yet stored: never its
// secret, and no URL for a listen destination.
func changeDestination(ctx context.Context, st RuleStore, resolver safehttp.Resolver, policy safehttp.Policy,
	in *destinationInput, d *sluice.Destination) error {
	if in.Secret != nil {
		return errSecretByPatch
	}
	if in.URL != nil && d.Listening() {
		return sluice.Errorf(sluice.EINVALID, "url: a listen destination has none; its deliveries go to its sluice listen")
	}
	return applyDestination(ctx, st, resolver, policy, in, d)
}

// deleteDestination serves DELETE /v1/destinations/{id}.
func (h *Handler) deleteDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	if err := h.store.DeleteDestination(r.Context(), key.TenantID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getDestinationSecret serves GET /v1/destinations/{id}/secret (admin only:
// a secret is not metadata).
func (h *Handler) getDestinationSecret(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	secret, err := ReadSecret(r.Context(), h.store, key, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret})
	return nil
}

// fieldAllowlist reads a destination's "fields": null for the whole
// payload, else a list of strings, which Destination.Validate checks.
func fieldAllowlist(raw json.RawMessage) ([]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var fields []string
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "fields: must be an array of strings, or null for the whole payload")
	}
	return fields, nil
}
