package sluice

import "time"

// DataKeyRotation is what rotating a tenant's data key did: which key
// seals the tenant's new values from now on, and which one did before. Key
// ids are not secret (every sealed value names its key); the keys
// themselves never leave the store unwrapped.
type DataKeyRotation struct {
	TenantID      string
	KeyID         string // the new key
	PreviousKeyID string // the key it succeeds, kept to open what it sealed
	RotatedAt     time.Time
}
