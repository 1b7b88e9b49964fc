package sluice

// Change is one field a configuration change changed, as its audit entry
// records it: the field's name as the API spells it, and its value before
// and after as JSON values (string, number, bool, list, object, or nil
// when the field was not set: Old on creation, New on deletion).
//
// A secret, a URL or any other credential is never recorded: its Old and
// New are fingerprints, "fp:" and 16 hex digits of a keyed hash under a
// key of the tenant's, the same for the same value, so that an auditor
// sees that it changed, and changed back, without seeing it.
type Change struct {
	Field string
	Old   any
	New   any
}

// FingerprintPrefix starts every fingerprint an audit entry shows in place
// of a secret or URL.
const FingerprintPrefix = "fp:"
