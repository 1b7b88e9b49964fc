package sluice

import (
	"context"
	"strings"
)

// Limits on a destination's configuration.
const (
	maxEventTypePatterns = 100
	maxSourceIDs         = 100
	maxSourceIDLen       = 64
	maxFields            = 100
	maxFieldPathLen      = 256
	// maxDestinationRatePerSec keeps the rate limiter's spacing (1/N s,
	// kept in microseconds) exact.
	maxDestinationRatePerSec = 1_000_000
)

// Validate checks the destination's own configuration: its field allowlist
// (nil for the whole payload, else 1 to 100 dot paths), its rate limit, its
// name, its event type patterns (1 to 100, see ValidEventTypePattern) and
// its source ids (at most 100). It returns an EINVALID *Error naming the
// first field that is wrong, as the API calls it.
//
// The URL is not among them: its rules need a resolver and the deployment's
// address policy (see safehttp.Policy.CheckDestinationURL). Nor is the
// secret, whose format belongs to the signature package.
func (d *Destination) Validate() error {
	if err := checkFields(d.Fields); err != nil {
		return err
	}
	if n := d.RateLimitPerSecond; n < 0 || n > maxDestinationRatePerSec {
		return Errorf(EINVALID, "rate_limit_per_second: must be 0 (unlimited) to %d", maxDestinationRatePerSec)
	}
	if err := checkName("name", d.Name); err != nil {
		return err
	}
	if err := checkEventTypePatterns(d.EventTypes); err != nil {
		return err
	}
	if err := checkSourceIDs(d.SourceIDs); err != nil {
		return err
	}
	if err := ValidateCustomer(d.Customer); err != nil {
		return err
	}
	return d.validateExposure()
}

// SetEnabled turns the destination's switch: a change clears the reason it
// was disabled for, and turning it off records DisabledManual. Setting the
// state it is in already changes nothing, so an automatic reason stays.
func (d *Destination) SetEnabled(enabled bool) {
	if enabled == d.Enabled {
		return
	}
	d.Enabled, d.DisabledReason = enabled, ""
	if !enabled {
		d.DisabledReason = DisabledManual
	}
}

// checkFields accepts a field allowlist: nil, or 1 to maxFields dot paths
// of non-empty member names without white space.
func checkFields(fields []string) error {
	switch {
	case fields == nil:
		return nil
	case len(fields) == 0:
		return Errorf(EINVALID, "fields: list at least one field path, or null for the whole payload")
	case len(fields) > maxFields:
		return Errorf(EINVALID, "fields: at most %d paths", maxFields)
	}
	for _, f := range fields {
		if !validPath(f) {
			return Errorf(EINVALID, "fields: each must be a dot path such as data.amount, without spaces")
		}
	}
	return nil
}

func checkEventTypePatterns(patterns []string) error {
	switch {
	case len(patterns) == 0:
		return Errorf(EINVALID, `event_types: list at least one pattern ("*" for every type)`)
	case len(patterns) > maxEventTypePatterns:
		return Errorf(EINVALID, "event_types: at most %d patterns", maxEventTypePatterns)
	}
	for _, p := range patterns {
		if !ValidEventTypePattern(p) {
			return Errorf(EINVALID, `event_types: each must be "*", "prefix.*" or an event type, without spaces, up to 255 bytes`)
		}
	}
	return nil
}

func checkSourceIDs(ids []string) error {
	if len(ids) > maxSourceIDs {
		return Errorf(EINVALID, "source_ids: at most %d ids", maxSourceIDs)
	}
	for _, id := range ids {
		if !strings.HasPrefix(id, PrefixSource) || len(id) > maxSourceIDLen {
			return Errorf(EINVALID, "source_ids: each must be a source id (src_…)")
		}
	}
	return nil
}

// DestinationLister lists a tenant's destinations; Store implements it.
type DestinationLister interface {
	Destinations(ctx context.Context, tenantID string, page Page) ([]*Destination, string, error)
}

// CheckDestinationName requires d's name, and that no other destination
// of its tenant and customer has it (compared without regard to case):
// EINVALID for none, ECONFLICT for one taken. Names are how people tell
// destinations apart in lists, alerts, the dashboard and a customer's
// portal; two customers may each name one "Production".
func CheckDestinationName(ctx context.Context, s DestinationLister, d *Destination) error {
	if strings.TrimSpace(d.Name) == "" {
		return Errorf(EINVALID, "name: required, a name no other destination of the tenant has")
	}
	all, err := ListAll(func(p Page) ([]*Destination, string, error) { return s.Destinations(ctx, d.TenantID, p) })
	if err != nil {
		return err
	}
	for _, other := range all {
		if other.ID != d.ID && other.Customer == d.Customer && strings.EqualFold(other.Name, d.Name) {
			return Errorf(ECONFLICT, "name: destination %s is named so already", other.ID)
		}
	}
	return nil
}
