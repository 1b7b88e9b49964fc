package storekit

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// SourceColumnList names the sources table's columns in the order of
// SourceRow.Targets; both stores' tables have them.
const SourceColumnList = `id, tenant_id, name, verification, credentials, event_type_path, event_id_path,
	subject_paths, allowed_ips, rate_limit_per_second, payload_retention_ms, enabled, created_at, updated_at`

// SourceRow is a sources row as scanned.
type SourceRow struct {
	source           sluice.Source
	columns          SourceColumns
	created, updated int64 // Unix milliseconds
}

// Targets returns scan targets in SourceColumnList order.
func (r *SourceRow) Targets() []any {
	s, c := &r.source, &r.columns
	return []any{&s.ID, &s.TenantID, &s.Name, &c.Verification, &c.Credentials, &s.EventTypePath, &s.EventIDPath,
		&c.SubjectPaths, &c.AllowedIPs, &s.RateLimitPerSecond, &c.PayloadRetentionMS, &s.Enabled, &r.created, &r.updated}
}

// Decode opens the credentials and decodes the other columns.
func (r *SourceRow) Decode(ctx context.Context, k *Keyring) (*sluice.Source, error) {
	s := r.source
	if err := DecodeSource(ctx, k, &s, &r.columns); err != nil {
		return nil, err
	}
	s.CreatedAt, s.UpdatedAt = fromMS(r.created), fromMS(r.updated)
	return &s, nil
}

// DestinationInsertColumnList names the destinations table's columns that
// CreateDestination writes, in the order of DestinationRow.Targets.
const DestinationInsertColumnList = `id, tenant_id, name, url, event_types, source_ids, fields,
	rate_limit_per_second, secret, previous_secret, previous_secret_until, enabled, disabled_reason,
	created_at, updated_at`

// DestinationColumnList names the destinations table's columns in the
// order of DestinationRow.Targets: those written on insert, then the
// health that recorded attempts keep.
const DestinationColumnList = DestinationInsertColumnList + `, failures, failing_since, paused_until`

// DestinationRow is a destinations row as scanned, alone or as part of a
// wider row.
type DestinationRow struct {
	destination               sluice.Destination
	columns                   DestinationColumns
	created, updated          int64  // Unix milliseconds
	failingSince, pausedUntil *int64 // Unix milliseconds; nil (NULL) when not failing, not paused
}

// Targets returns scan targets in DestinationColumnList order.
func (r *DestinationRow) Targets() []any {
	d, c := &r.destination, &r.columns
	return []any{&d.ID, &d.TenantID, &d.Name, &c.URL, &c.EventTypes, &c.SourceIDs, &c.Fields,
		&d.RateLimitPerSecond, &c.Secret, &c.PreviousSecret, &c.PreviousSecretUntil, &d.Enabled, &d.DisabledReason,
		&r.created, &r.updated, &d.Failures, &r.failingSince, &r.pausedUntil}
}

// Decode opens the sealed columns and decodes the lists.
func (r *DestinationRow) Decode(ctx context.Context, k *Keyring) (*sluice.Destination, error) {
	d := r.destination
	if err := DecodeDestination(ctx, k, &d, &r.columns); err != nil {
		return nil, err
	}
	d.CreatedAt, d.UpdatedAt = fromMS(r.created), fromMS(r.updated)
	d.FailingSince, d.PausedUntil = fromNullMS(r.failingSince), fromNullMS(r.pausedUntil)
	return &d, nil
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}
