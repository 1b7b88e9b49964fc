package sluice

import "time"

// Limits on a source's configuration.
const (
	maxSubjectPaths     = 50
	maxAllowedIPs       = 100
	maxSourceRatePerSec = 1_000_000
	maxPayloadRetention = 10 * 8760 * time.Hour
)

// Validate checks the bounds of the source's own configuration: its name,
// the number of subject paths and allowed IP ranges, its rate limit, and
// its payload retention (0 for the global default, else positive and at
// most ten years). It returns an EINVALID *Error naming the first field
// that is wrong, as the API calls it.
//
// The syntax of the paths, the subject types and the verification rule are
// checked by the packages that read them (internal/inbound and
// internal/subject), which the domain does not import.
func (s *Source) Validate() error {
	if err := checkName("name", s.Name); err != nil {
		return err
	}
	if len(s.SubjectPaths) > maxSubjectPaths {
		return Errorf(EINVALID, "subject_paths: at most %d", maxSubjectPaths)
	}
	if len(s.AllowedIPs) > maxAllowedIPs {
		return Errorf(EINVALID, "allowed_ips: at most %d", maxAllowedIPs)
	}
	if n := s.RateLimitPerSecond; n < 0 || n > maxSourceRatePerSec {
		return Errorf(EINVALID, "rate_limit_per_second: must be 0 (unlimited) to %d", maxSourceRatePerSec)
	}
	if d := s.PayloadRetention; d < 0 || d > maxPayloadRetention {
		return Errorf(EINVALID, `payload_retention: must be a positive duration such as "168h"`)
	}
	if s.PayloadStorage != "" && !s.PayloadStorage.Valid() {
		return Errorf(EINVALID, `payload_storage: must be "retain", "until_delivered" or "none"`)
	}
	return s.Processing.validate()
}
