package sluice

import (
	"slices"
	"time"
)

// PayloadStorage says how long an event's payload is written down, if at
// all: a tenant's setting, which a source may override.
type PayloadStorage string

// Payload storage modes.
const (
	// StorageRetain keeps the payload for its retention windows (see
	// Retention): for replay and debugging after delivery.
	StorageRetain PayloadStorage = "retain"
	// StorageUntilDelivered deletes the payload as soon as every delivery
	// of its event has ended successfully, or at once when no destination
	// matched; one that fails keeps it for the undelivered window.
	StorageUntilDelivered PayloadStorage = "until_delivered"
	// StorageNone never writes the payload: its deliveries are attempted
	// from the memory of the process that received it. A crash or restart
	// ends the retries of what it had not delivered, and another process
	// cannot make them: the event is not durable.
	StorageNone PayloadStorage = "none"
)

// PayloadStorages lists every PayloadStorage.
var PayloadStorages = []PayloadStorage{StorageRetain, StorageUntilDelivered, StorageNone}

// Valid reports whether s is a known storage mode.
func (s PayloadStorage) Valid() bool { return slices.Contains(PayloadStorages, s) }

// Retention is how long each kind of data is kept, by purpose: a tenant's
// overrides (a zero field takes the server's default), or the server's
// defaults themselves.
type Retention struct {
	// PayloadStorage is how payloads are kept.
	PayloadStorage PayloadStorage
	// Undelivered is how long a payload is kept while its event is not
	// delivered: the horizon of its retries, and of a replay after they
	// failed.
	Undelivered time.Duration
	// Delivered is how long a payload is kept once its event is delivered
	// (or matched no destination), from its receipt: the replay and
	// debugging window (payload_retention).
	Delivered time.Duration
	// Metadata is how long events, their deliveries and attempts are kept.
	Metadata time.Duration
	// Audit is how long audit entries, erasure records and the
	// observations of events' shapes are kept.
	Audit time.Duration
}

// Default retention windows.
const (
	DefaultUndeliveredRetention = 72 * time.Hour
	DefaultPayloadRetention     = 720 * time.Hour
	DefaultMetadataRetention    = 8760 * time.Hour
	DefaultAuditRetention       = 8760 * time.Hour
)

// DefaultRetention is the server's retention when nothing is configured.
var DefaultRetention = Retention{PayloadStorage: StorageRetain, Undelivered: DefaultUndeliveredRetention,
	Delivered: DefaultPayloadRetention, Metadata: DefaultMetadataRetention, Audit: DefaultAuditRetention}

// Or returns r with its zero fields taken from d.
func (r Retention) Or(d Retention) Retention {
	if r.PayloadStorage == "" {
		r.PayloadStorage = d.PayloadStorage
	}
	if r.Undelivered == 0 {
		r.Undelivered = d.Undelivered
	}
	if r.Delivered == 0 {
		r.Delivered = d.Delivered
	}
	if r.Metadata == 0 {
		r.Metadata = d.Metadata
	}
	if r.Audit == 0 {
		r.Audit = d.Audit
	}
	return r
}

// maxRetention bounds every retention window: ten years.
const maxRetention = 10 * 8760 * time.Hour

// Validate checks a set of overrides: a known storage mode or none, and
// each window zero (the default) or positive up to ten years. It returns
// an EINVALID *Error naming the first field that is wrong, by its API name.
func (r Retention) Validate() error {
	if r.PayloadStorage != "" && !r.PayloadStorage.Valid() {
		return Errorf(EINVALID, `payload_storage: must be "retain", "until_delivered" or "none"`)
	}
	for _, w := range []struct {
		name string
		d    time.Duration
	}{
		{"undelivered_retention", r.Undelivered}, {"payload_retention", r.Delivered},
		{"metadata_retention", r.Metadata}, {"audit_retention", r.Audit},
	} {
		if w.d < 0 || w.d > maxRetention {
			return Errorf(EINVALID, `%s: must be a positive duration of at most ten years, such as "168h"`, w.name)
		}
	}
	return nil
}
