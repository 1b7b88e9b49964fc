package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/safehttp"
	"github.com/sluicehq/sluice/internal/signature"
)

// Limits on a destination's configuration.
const (
	// lookupTimeout bounds the DNS lookup of a destination's host.
	lookupTimeout = 5 * time.Second

	maxURLLen      = 2048
	maxEventTypes  = 100
	maxSourceIDs   = 100
	maxSourceIDLen = 64
	// maxDestinationRatePerSec keeps the rate limiter's spacing (1/N s,
	// kept in microseconds) exact.
	maxDestinationRatePerSec = 1_000_000
)

// destinationJSON is a destination as the API shows it. The secret appears
// only when the destination is created; GET …/secret reads it after that.
type destinationJSON struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	URL                string    `json:"url"`
	EventTypes         []string  `json:"event_types"`
	SourceIDs          []string  `json:"source_ids"`
	Fields             []string  `json:"fields"`
	RateLimitPerSecond *int      `json:"rate_limit_per_second"`
	Enabled            bool      `json:"enabled"`
	State              string    `json:"state"`
	DisabledReason     string    `json:"disabled_reason,omitempty"`
	Secret             string    `json:"secret,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

func toDestinationJSON(d *sluice.Destination) destinationJSON {
	out := destinationJSON{
		ID: d.ID, Name: d.Name, URL: d.URL, EventTypes: d.EventTypes, SourceIDs: d.SourceIDs, Fields: d.Fields,
		Enabled: d.Enabled, State: d.State(), DisabledReason: d.DisabledReason,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
	if out.SourceIDs == nil {
		out.SourceIDs = []string{}
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
	URL                *string         `json:"url"`
	EventTypes         *[]string       `json:"event_types"`
	SourceIDs          *[]string       `json:"source_ids"`
	Fields             json.RawMessage `json:"fields"` // null: the whole payload again
	RateLimitPerSecond *int            `json:"rate_limit_per_second"`
	Secret             *string         `json:"secret"`
	Enabled            *bool           `json:"enabled"`
}

// apply validates in and sets its fields on d: EINVALID naming the first
// field that is wrong.
func (h *Handler) apply(ctx context.Context, in *destinationInput, d *sluice.Destination) error {
	if len(in.Fields) > 0 {
		fields, err := fieldAllowlist(in.Fields)
		if err != nil {
			return err
		}
		d.Fields = fields
	}
	if in.RateLimitPerSecond != nil {
		if n := *in.RateLimitPerSecond; n < 0 || n > maxDestinationRatePerSec {
			return sluice.Errorf(sluice.EINVALID, "rate_limit_per_second: must be 0 (unlimited) to %d", maxDestinationRatePerSec)
		}
		d.RateLimitPerSecond = *in.RateLimitPerSecond
	}
	if in.Name != nil {
		if err := checkName("name", *in.Name, false); err != nil {
			return err
		}
		d.Name = *in.Name
	}
	if in.URL != nil {
		if err := h.checkDestinationURL(ctx, *in.URL); err != nil {
			return err
		}
		d.URL = *in.URL
	}
	if in.EventTypes != nil {
		if err := checkEventTypePatterns(*in.EventTypes); err != nil {
			return err
		}
		d.EventTypes = *in.EventTypes
	}
	if in.SourceIDs != nil {
		if err := checkSourceIDs(*in.SourceIDs); err != nil {
			return err
		}
		d.SourceIDs = *in.SourceIDs
	}
	if in.Secret != nil {
		if _, err := signature.ParseSecret(*in.Secret); err != nil {
			return sluice.Errorf(sluice.EINVALID, "secret: must be whsec_ followed by standard base64 of 24 to 64 bytes")
		}
		d.Secret = *in.Secret
	}
	if in.Enabled != nil && *in.Enabled != d.Enabled {
		d.Enabled, d.DisabledReason = *in.Enabled, ""
		if !d.Enabled {
			d.DisabledReason = sluice.DisabledManual
		}
	}
	return nil
}

// checkDestinationURL applies the SPEC's URL rules: an absolute https URL
// without credentials; http only when private destinations are allowed or
// the host is an address in an allowed range; and a host that is not, and
// does not resolve to, a loopback, private, metadata or other non-public
// address unless private destinations are allowed or the address is in an
// allowed range. A name that does not resolve yet is accepted: the delivery
// dialer checks the address again on every connection (DNS rebinding).
// EINVALID names the rule broken, never echoing the URL.
func (h *Handler) checkDestinationURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxURLLen:
		return sluice.Errorf(sluice.EINVALID, "url: at most %d bytes", maxURLLen)
	case err != nil || !u.IsAbs() || u.Opaque != "" || u.Hostname() == "":
		return sluice.Errorf(sluice.EINVALID, "url: must be an absolute https URL")
	case u.User != nil:
		return sluice.Errorf(sluice.EINVALID, "url: must not carry credentials")
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !h.cfg.AllowPrivateDestinations && !h.inAllowedCIDRs(u.Hostname()) {
			return sluice.Errorf(sluice.EINVALID,
				"url: must use https (http only with --allow-private-destinations or a host in --allowed-destination-cidrs)")
		}
	default:
		return sluice.Errorf(sluice.EINVALID, "url: must be an absolute https URL")
	}
	if h.cfg.AllowPrivateDestinations {
		return nil
	}
	// The lookup is bounded, and ends with the request: a slow resolver
	// answers as a name that does not resolve yet, which is accepted.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	policy := safehttp.Policy{Allowed: h.cfg.AllowedDestinationCIDRs}
	err = policy.CheckHost(ctx, h.cfg.Resolver, u.Hostname())
	var blocked *safehttp.BlockedError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &blocked):
		return sluice.Errorf(sluice.EINVALID, "url: host is not a public address")
	}
	verb := "resolves to"
	if _, perr := netip.ParseAddr(u.Hostname()); perr == nil {
		verb = "is"
	}
	return sluice.Errorf(sluice.EINVALID,
		"url: host %s a non-public address (%s); allow its range with --allowed-destination-cidrs", verb, blocked.Class)
}

// inAllowedCIDRs reports whether host is an IP address in an allowed range.
func (h *Handler) inAllowedCIDRs(host string) bool {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap()
	return slices.ContainsFunc(h.cfg.AllowedDestinationCIDRs, func(p netip.Prefix) bool { return p.Contains(addr) })
}

func checkEventTypePatterns(patterns []string) error {
	switch {
	case len(patterns) == 0:
		return sluice.Errorf(sluice.EINVALID, `event_types: list at least one pattern ("*" for every type)`)
	case len(patterns) > maxEventTypes:
		return sluice.Errorf(sluice.EINVALID, "event_types: at most %d patterns", maxEventTypes)
	}
	for _, p := range patterns {
		if !sluice.ValidEventTypePattern(p) {
			return sluice.Errorf(sluice.EINVALID,
				`event_types: each must be "*", "prefix.*" or an event type, without spaces, up to 255 bytes`)
		}
	}
	return nil
}

func checkSourceIDs(ids []string) error {
	if len(ids) > maxSourceIDs {
		return sluice.Errorf(sluice.EINVALID, "source_ids: at most %d ids", maxSourceIDs)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, sluice.PrefixSource) || len(id) > maxSourceIDLen {
			return sluice.Errorf(sluice.EINVALID, "source_ids: each must be a source id (src_…)")
		}
	}
	return nil
}

// createDestination serves POST /v1/destinations.
func (h *Handler) createDestination(w http.ResponseWriter, r *http.Request, key *sluice.APIKey) error {
	var in destinationInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.URL == nil {
		return sluice.Errorf(sluice.EINVALID, "url: required")
	}
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: key.TenantID,
		EventTypes: []string{"*"}, Enabled: true}
	if err := h.apply(r.Context(), &in, d); err != nil {
		return err
	}
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
	ds, next, err := h.store.Destinations(r.Context(), key.TenantID, page)
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
		return sluice.Errorf(sluice.EINVALID, "secret: cannot be changed by PATCH; rotate it instead")
	}
	d, err := h.store.Destination(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	wasEnabled := d.Enabled
	if err := h.apply(r.Context(), &in, d); err != nil {
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
	d, err := h.store.Destination(r.Context(), key.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := h.store.RecordAudit(r.Context(), &sluice.AuditEntry{TenantID: key.TenantID, ActorKeyID: key.ID,
		Action: "destination.secret_read", ResourceID: d.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": d.Secret})
	return nil
}

// Limits on a field allowlist.
const (
	maxFields       = 100
	maxFieldPathLen = 256
)

// fieldAllowlist reads a destination's "fields": null for the whole
// payload, else 1 to maxFields dot paths of non-empty member names.
func fieldAllowlist(raw json.RawMessage) ([]string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var fields []string
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "fields: must be an array of strings, or null for the whole payload")
	}
	switch {
	case len(fields) == 0:
		return nil, sluice.Errorf(sluice.EINVALID, "fields: list at least one field path, or null for the whole payload")
	case len(fields) > maxFields:
		return nil, sluice.Errorf(sluice.EINVALID, "fields: at most %d paths", maxFields)
	}
	for _, f := range fields {
		if len(f) > maxFieldPathLen || slices.Contains(strings.Split(f, "."), "") || strings.ContainsFunc(f, unicode.IsSpace) {
			return nil, sluice.Errorf(sluice.EINVALID, "fields: each must be a dot path such as data.amount, without spaces")
		}
	}
	return fields, nil
}
