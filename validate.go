package sluice

import (
	"strings"
	"unicode"
)

// MaxNameLen bounds the names of tenants, keys, sources and destinations,
// in bytes.
const MaxNameLen = 200

// maxEventTypeLen bounds an event type, in bytes.
const maxEventTypeLen = 255

// ValidateEventType accepts the type of an event Sluice is given, published
// or received: non-empty, at most 255 bytes, without spaces, control
// characters or wildcards, and not in Sluice's own OperationalPrefix
// namespace. It returns an EINVALID *Error naming the field "type".
func ValidateEventType(t string) error {
	switch {
	case t == "":
		return Errorf(EINVALID, "type: required")
	case len(t) > maxEventTypeLen:
		return Errorf(EINVALID, "type: at most %d bytes", maxEventTypeLen)
	case strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '*' }):
		return Errorf(EINVALID, "type: must not contain spaces, control characters or *")
	case strings.HasPrefix(t, OperationalPrefix):
		return Errorf(EINVALID, "type: the %q prefix is reserved for Sluice's own events", OperationalPrefix)
	}
	return nil
}

// checkName accepts an optional name of at most MaxNameLen bytes: EINVALID
// naming field.
func checkName(field, name string) error {
	if len(name) > MaxNameLen {
		return Errorf(EINVALID, "%s: at most %d bytes", field, MaxNameLen)
	}
	return nil
}
