package sluice

import (
	"errors"
	"time"
)

// ErrIntegrity is returned, wrapped, when stored data fails its integrity
// check: a sealed value was altered, truncated or moved to another row.
var ErrIntegrity = errors.New("stored data failed its integrity check")

// Subject identifies a data subject: a type ("email", "customer_id", …)
// and a value. Stores keep only a keyed hash of it, never the value.
type Subject struct {
	Type  string
	Value string
}

// Erasure is the record of an erasure request: which subject (as a keyed
// hash, held by the store), how many events it matched and how many
// payloads it erased.
type Erasure struct {
	ID             string
	TenantID       string
	EventsMatched  int
	PayloadsErased int
	CompletedAt    time.Time
}

// SubjectPayload is one retained payload linked to a subject, for export.
type SubjectPayload struct {
	EventID    string
	Type       string
	ReceivedAt time.Time
	Payload    Payload
	// IntegrityError is set, and Payload.Body empty, when the stored
	// payload failed its integrity check.
	IntegrityError bool
}
