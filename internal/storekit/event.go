package storekit

import (
	"context"

	"github.com/sluicehq/sluice"
)

// EventColumnList names the events table's columns in ScanEvent's order.
const EventColumnList = `id, tenant_id, type, direction, source_id, status, payload_state, received_at`

// Scanner is a row to scan, of either store's driver.
type Scanner interface{ Scan(...any) error }

// ScanEvent scans a row of EventColumnList.
func ScanEvent(row Scanner) (*sluice.Event, error) {
	var e sluice.Event
	var direction string
	var received int64
	if err := row.Scan(&e.ID, &e.TenantID, &e.Type, &direction, &e.SourceID, &e.Status, &e.PayloadState, &received); err != nil {
		return nil, err
	}
	e.Direction, e.ReceivedAt = sluice.Direction(direction), fromMS(received)
	return &e, nil
}

// SealedEvent is what a store writes for a new event besides its metadata.
type SealedEvent struct {
	Body, Headers []byte   // the payload sealed; Headers nil when none were kept
	SubjectHashes [][]byte // the distinct keyed hashes of its subjects
	Dedup         *string  // the keyed hash of its dedup key; nil (NULL) for none
}

// SealEvent prepares a new event for its rows. It does the sealing and
// hashing before a store's transaction, so the writer holds it no longer.
func (k *Keyring) SealEvent(ctx context.Context, in *sluice.NewEvent) (*SealedEvent, error) {
	e := &in.Event
	out := &SealedEvent{}
	var err error
	if out.Body, out.Headers, err = k.SealPayload(ctx, e.TenantID, e.ID, &in.Payload); err != nil {
		return nil, err
	}
	if out.SubjectHashes, err = k.SubjectHashes(ctx, e.TenantID, in.Subjects); err != nil {
		return nil, err
	}
	if in.DedupKey != "" {
		digest, err := k.DedupDigest(ctx, e.TenantID, in.DedupKey)
		if err != nil {
			return nil, err
		}
		out.Dedup = &digest
	}
	return out, nil
}
