package sluice

import (
	"strings"
	"time"
)

// AuditFilter selects a tenant's audit entries; empty fields match every
// entry.
type AuditFilter struct {
	// ActorKeyID: only what this key did (for a thin delivery's fetch, the
	// destination's id).
	ActorKeyID string
	// Action: only entries of this action ("destination.update"), or,
	// ending in a dot, of every action it starts ("destination.").
	Action string
	// ResourceID: only entries about this resource, its history.
	ResourceID string
	// Since and Until bound when the entry was written: [Since, Until).
	Since, Until time.Time
}

// ActionPrefix reports whether Action selects every action it starts, as
// "destination." does, rather than one action.
func (f AuditFilter) ActionPrefix() bool { return strings.HasSuffix(f.Action, ".") }

// Validate checks the filter's shape: EINVALID naming the field as the
// API's query parameter (actor_key_id, action, resource_id, until), never
// its value.
func (f AuditFilter) Validate() error {
	if f.ActorKeyID != "" && !ValidID(f.ActorKeyID) {
		return Errorf(EINVALID, "actor_key_id: must be the id of a key, such as key_…")
	}
	if f.Action != "" && !validAction(f.Action) {
		return Errorf(EINVALID, `action: must be an action such as "destination.update", or a prefix ending in a dot such as "destination."`)
	}
	if f.ResourceID != "" && !ValidResourceID(f.ResourceID) {
		return Errorf(EINVALID, "resource_id: must be the id of a resource, such as dst_…")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return Errorf(EINVALID, "until: must be later than since")
	}
	return nil
}

// validAction reports whether s has the shape of an action or a prefix of
// one: lower case words of letters, digits and underscores joined by dots,
// up to 64 bytes.
func validAction(s string) bool {
	if len(s) > 64 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		case c == '.' && s[i-1] != '.':
		default:
			return false
		}
	}
	return true
}

// ValidResourceID reports whether id has the shape of what audit entries
// name as their resource: an id of Sluice's (ValidID), or a data key's id
// or a master key's fingerprint (lower case letters, digits and
// underscores, up to 64 bytes).
func ValidResourceID(id string) bool {
	if ValidID(id) {
		return true
	}
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
