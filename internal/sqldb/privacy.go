package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// DeleteSubjectLinks deletes the tenant's links of a subject hash and
// returns their events, by id.
func (o *Ops) DeleteSubjectLinks(ctx context.Context, tenantID string, hash []byte) ([]string, error) {
	ids, err := QueryStrings(ctx, o.Conn, `DELETE FROM subject_index WHERE tenant_id = $1 AND hash = $2 RETURNING event_id`,
		tenantID, hash)
	return sortedUnique(ids), err
}

// EndPayloads deletes the events' payloads, ends their pending deliveries
// with status, and sets the payload state of those still retained to
// state (one that already expired or was erased keeps saying so). It
// returns how many payloads it deleted. Deliveries are changed before
// events, as claims and recorded attempts change them, so those writes
// wait for each other instead of deadlocking.
func (o *Ops) EndPayloads(ctx context.Context, eventIDs []string, state sluice.PayloadState, status sluice.DeliveryStatus, now time.Time) (int, error) {
	ids := o.Dialect.IDs(eventIDs)
	deleted, err := o.Conn.Exec(ctx, `DELETE FROM event_payloads WHERE `+o.Dialect.InList("event_id", 1), ids)
	if err != nil {
		return 0, fmt.Errorf("delete payloads: %w", err)
	}
	if _, err := o.endDeliveries(ctx, o.Dialect.InList("event_id", 1), ids, status, now); err != nil {
		return 0, err
	}
	if _, err := o.Conn.Exec(ctx, `UPDATE events SET payload_state = $2 WHERE `+o.Dialect.InList("id", 1)+`
		AND payload_state = 'retained'`, ids, string(state)); err != nil {
		return 0, fmt.Errorf("mark payloads %s: %w", state, err)
	}
	return int(deleted), nil
}

// Erasures lists the tenant's erasure records, newest first.
func (o *Ops) Erasures(ctx context.Context, tenantID string, page sluice.Page) ([]*sluice.Erasure, string, error) {
	return listPage(ctx, o.Conn, "erasures", `SELECT id, tenant_id, events_matched, payloads_erased, completed_at
		FROM erasures WHERE tenant_id = $1`, []any{tenantID}, page, func(row Row) (*sluice.Erasure, error) {
		var e sluice.Erasure
		var completed int64
		err := row.Scan(&e.ID, &e.TenantID, &e.EventsMatched, &e.PayloadsErased, &completed)
		e.CompletedAt = FromMS(completed)
		return &e, err
	}, func(e *sluice.Erasure) string { return e.ID })
}

// InsertErasure records an erasure.
func (o *Ops) InsertErasure(ctx context.Context, e *engine.ErasureRow) error {
	_, err := o.Conn.Exec(ctx, `INSERT INTO erasures (id, tenant_id, subject_hash, events_matched, payloads_erased,
		completed_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.TenantID, e.SubjectHash, e.EventsMatched, e.PayloadsErased, MS(e.CompletedAt))
	return err
}

// HasExhaustedDelivery reports whether the event has an exhausted delivery
// to the destination. It looks by event: a destination may have a long
// list of exhausted deliveries.
func (o *Ops) HasExhaustedDelivery(ctx context.Context, eventID, destinationID string) (bool, error) {
	var found bool
	err := o.Conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
		WHERE event_id = $1 AND destination_id = $2 AND status = 'exhausted')`, eventID, destinationID).Scan(&found)
	return found, err
}

// LockRecoverableEvents returns, by id, the tenant's events with a
// delivery to the destination exhausted and created in [since, until)
// whose payloads are retained and expire after now, and keeps them from
// changing until the transaction ends.
func (o *Ops) LockRecoverableEvents(ctx context.Context, tenantID, destinationID string, since, until, now time.Time) ([]string, error) {
	return QueryStrings(ctx, o.Conn, `SELECT e.id FROM events e
		JOIN event_payloads p ON p.event_id = e.id
		WHERE e.tenant_id = $1 AND e.payload_state = 'retained' AND COALESCE(p.undelivered_until, p.expires_at) > $5
			AND e.id IN (SELECT d.event_id FROM deliveries d WHERE d.destination_id = $2 AND d.tenant_id = $1
				AND d.status = 'exhausted' AND d.created_at >= $3 AND d.created_at < $4)
		ORDER BY e.id`+o.lock("FOR NO KEY UPDATE OF e"),
		tenantID, destinationID, MS(since), MS(until), MS(now))
}

// DuePayloads returns up to limit payloads whose ExpiresAt is at or before
// now, earliest first, passing over those another transaction holds.
func (o *Ops) DuePayloads(ctx context.Context, now time.Time, limit int) ([]engine.DuePayload, error) {
	return queryAll(ctx, o.Conn, "due payloads", `SELECT p.event_id, e.status, p.expires_at, p.delivered_until,
			p.undelivered_until
		FROM event_payloads p JOIN events e ON e.id = p.event_id
		WHERE p.expires_at <= $1 ORDER BY p.expires_at LIMIT $2`+o.lock("FOR UPDATE OF p SKIP LOCKED"),
		[]any{MS(now), limit}, func(row Row) (engine.DuePayload, error) {
			var d engine.DuePayload
			var status sluice.EventStatus
			var expires int64
			var delivered, undelivered *int64
			if err := row.Scan(&d.EventID, &status, &expires, &delivered, &undelivered); err != nil {
				return d, err
			}
			p := engine.PayloadRow{ExpiresAt: FromMS(expires), DeliveredUntil: FromNullMS(delivered),
				UndeliveredUntil: FromNullMS(undelivered), Settled: engine.Settled(status)}
			d.Until = p.Until()
			return d, nil
		})
}

// ExtendPayloads moves payloads' ExpiresAt.
func (o *Ops) ExtendPayloads(ctx context.Context, expiries []engine.PayloadExpiry) error {
	for _, x := range expiries {
		if _, err := o.Conn.Exec(ctx, `UPDATE event_payloads SET expires_at = $2 WHERE event_id = $1`,
			x.EventID, MS(x.ExpiresAt)); err != nil {
			return fmt.Errorf("extend payload: %w", err)
		}
	}
	return nil
}

// DiscardDelivered deletes the payloads kept until delivered of the events
// now settled, marks them expired, and returns the settled events.
func (o *Ops) DiscardDelivered(ctx context.Context, eventIDs []string) ([]string, error) {
	settled, err := QueryStrings(ctx, o.Conn, `SELECT id FROM events WHERE `+o.Dialect.InList("id", 1)+`
		AND status IN ('delivered', 'unrouted') ORDER BY id`, o.Dialect.IDs(eventIDs))
	if err != nil || len(settled) == 0 {
		return nil, err
	}
	ids := o.Dialect.IDs(settled)
	n, err := o.Conn.Exec(ctx, `DELETE FROM event_payloads WHERE `+o.Dialect.InList("event_id", 1)+` AND until_delivered`, ids)
	if err != nil {
		return nil, fmt.Errorf("delete delivered payloads: %w", err)
	}
	if n > 0 {
		if _, err := o.Conn.Exec(ctx, `UPDATE events SET payload_state = 'expired' WHERE `+o.Dialect.InList("id", 1)+`
			AND payload_state = 'retained' AND NOT EXISTS (SELECT 1 FROM event_payloads p WHERE p.event_id = events.id)`,
			ids); err != nil {
			return nil, fmt.Errorf("mark delivered payloads expired: %w", err)
		}
	}
	return settled, nil
}

// RetainedOfType returns up to limit events of the type, of any tenant,
// whose payloads are retained.
func (o *Ops) RetainedOfType(ctx context.Context, eventType string, limit int) ([]string, error) {
	return QueryStrings(ctx, o.Conn, `SELECT id FROM events WHERE type = $1 AND payload_state = $2 ORDER BY id LIMIT $3`,
		eventType, string(sluice.PayloadRetained), limit)
}

// retentionOf is the SQL of tenant t's retention in milliseconds of the
// column, or of the default $2 when it sets none.
func retentionOf(column string) string {
	return `CASE WHEN t.` + column + ` > 0 THEN t.` + column + ` ELSE $2 END`
}

// PurgeEvents deletes up to limit events whose tenant's metadata retention
// (or def) has passed at now, with everything that hangs off them, passing
// over those another transaction holds, and returns how many it deleted.
// It reads each tenant's events by age (events_tenant_received).
func (o *Ops) PurgeEvents(ctx context.Context, now time.Time, def time.Duration, limit int) (int, error) {
	n, err := o.Conn.Exec(ctx, `DELETE FROM events WHERE id IN (SELECT e.id FROM tenants t
		JOIN events e ON e.tenant_id = t.id AND e.received_at < $1 - `+retentionOf("metadata_retention_ms")+`
		LIMIT $3`+o.lock("FOR UPDATE OF e SKIP LOCKED")+`)`, MS(now), def.Milliseconds(), limit)
	return int(n), err
}

// PurgeAudit deletes up to limit each of the audit entries, erasure
// records and observations (all of a source's event type together, when
// the type's first sighting is old enough) whose tenant's audit retention
// (or def) has passed at now, and returns how many rows it deleted.
func (o *Ops) PurgeAudit(ctx context.Context, now time.Time, def time.Duration, limit int) (int, error) {
	args := []any{MS(now), def.Milliseconds(), limit}
	total := 0
	for _, q := range []struct{ what, sql string }{
		{"audit entries", `DELETE FROM audit_log WHERE id IN (SELECT a.id FROM tenants t
			JOIN audit_log a ON a.tenant_id = t.id AND a.at < $1 - ` + retentionOf("audit_retention_ms") + `
			LIMIT $3` + o.lock("FOR UPDATE OF a SKIP LOCKED") + `)`},
		{"erasure records", `DELETE FROM erasures WHERE id IN (SELECT r.id FROM tenants t
			JOIN erasures r ON r.tenant_id = t.id AND r.completed_at < $1 - ` + retentionOf("audit_retention_ms") + `
			LIMIT $3` + o.lock("FOR UPDATE OF r SKIP LOCKED") + `)`},
		{"observations", `DELETE FROM observations WHERE (tenant_id, source_id, event_type) IN (
			SELECT ob.tenant_id, ob.source_id, ob.event_type FROM tenants t
			JOIN observations ob ON ob.tenant_id = t.id AND ob.kind = 'type'
				AND ob.first_seen < $1 - ` + retentionOf("audit_retention_ms") + `
			LIMIT $3)`},
	} {
		n, err := o.Conn.Exec(ctx, q.sql, args...)
		if err != nil {
			return total, fmt.Errorf("purge %s: %w", q.what, err)
		}
		total += int(n)
	}
	return total, nil
}

// LoadClaims reads what attempting the claimed deliveries takes, in the
// order of ids; a delivery whose event or destination is gone is left
// out, and one whose payload is gone or past its expiry at now comes
// without a body.
func (o *Ops) LoadClaims(ctx context.Context, ids []string, now time.Time) ([]*engine.ClaimRow, error) {
	rows, err := queryAll(ctx, o.Conn, "claims", `SELECT d.id, d.tenant_id, d.event_id, d.destination_id, d.attempts,
			d.next_attempt_at, d.created_at, d.updated_at, d.recovers, e.type, e.received_at, p.content_type, p.body,
			p.key_share, p.until_delivered, p.hops, e.subject_paths, `+
		prefixed("t.", DestinationColumns)+`
		FROM deliveries d
		JOIN events e ON e.id = d.event_id
		JOIN destinations t ON t.id = d.destination_id
		LEFT JOIN event_payloads p ON p.event_id = d.event_id AND e.payload_state = 'retained'
			AND COALESCE(p.undelivered_until, p.expires_at) > $1
		WHERE `+o.Dialect.InList("d.id", 2), []any{MS(now), o.Dialect.IDs(ids)}, scanClaim)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*engine.ClaimRow, len(rows))
	for _, r := range rows {
		byID[r.Delivery.ID] = r
	}
	out := make([]*engine.ClaimRow, 0, len(rows))
	for _, id := range ids {
		if r := byID[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func scanClaim(row Row) (*engine.ClaimRow, error) {
	r := &engine.ClaimRow{}
	d := &r.Delivery
	var next *int64
	var created, updated, received int64
	var contentType *string
	var untilDelivered *bool
	var hops *int
	var subjectPaths *string
	var dest destinationScan
	if err := row.Scan(append([]any{&d.ID, &d.TenantID, &d.EventID, &d.DestinationID, &d.Attempts, &next, &created,
		&updated, &d.Recovers, &r.EventType, &received, &contentType, &r.Body, &r.KeyShare, &untilDelivered, &hops,
		&subjectPaths},
		dest.targets()...)...); err != nil {
		return nil, err
	}
	var err error
	if r.SubjectPaths, err = DecodeSubjectPaths(subjectPaths); err != nil {
		return nil, fmt.Errorf("claim of %s: %w", d.ID, err)
	}
	r.UntilDelivered = untilDelivered != nil && *untilDelivered
	if hops != nil {
		r.Hops = *hops
	}
	d.Status = sluice.DeliveryPending
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = FromNullMS(next), FromMS(created), FromMS(updated)
	r.ReceivedAt = FromMS(received)
	if contentType != nil {
		r.ContentType = *contentType
	}
	t, err := dest.row()
	if err != nil {
		return nil, err
	}
	r.Destination = *t
	return r, nil
}

// prefixed qualifies each of a list of columns with prefix.
func prefixed(prefix, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SubjectKeys returns the tenant's stored keys of the subject hashes it
// has.
func (o *Ops) SubjectKeys(ctx context.Context, tenantID string, hashes [][]byte) ([]engine.SubjectKeyRow, error) {
	var out []engine.SubjectKeyRow
	for _, h := range hashes {
		r := engine.SubjectKeyRow{Hash: h}
		err := o.Conn.QueryRow(ctx, `SELECT key_id, sealed_key FROM subject_keys WHERE tenant_id = $1 AND hash = $2`,
			tenantID, h).Scan(&r.ID, &r.SealedKey)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// insertSubjectKeys stores new keys of subjects.
func (o *Ops) insertSubjectKeys(ctx context.Context, tenantID string, keys []engine.SubjectKeyRow, at time.Time) error {
	for _, k := range keys {
		if _, err := o.Conn.Exec(ctx, `INSERT INTO subject_keys (tenant_id, hash, key_id, sealed_key, created_at)
			VALUES ($1, $2, $3, $4, $5)`, tenantID, k.Hash, k.ID, k.SealedKey, MS(at)); err != nil {
			return fmt.Errorf("insert subject key: %w", err)
		}
	}
	return nil
}

// SetSubjectKeys gives keys to subjects stored without one: ECONFLICT if
// one of them has a key already.
func (o *Ops) SetSubjectKeys(ctx context.Context, tenantID string, keys []engine.SubjectKeyRow) error {
	for _, k := range keys {
		n, err := o.Conn.Exec(ctx, `UPDATE subject_keys SET sealed_key = $3 WHERE tenant_id = $1 AND hash = $2
			AND sealed_key IS NULL`, tenantID, k.Hash, k.SealedKey)
		if err != nil {
			return err
		}
		if n == 0 {
			return sluice.Errorf(sluice.ECONFLICT, "the subject has a key already")
		}
	}
	return nil
}

// DeleteSubjectKey deletes the tenant's key of a subject hash, if it has
// one, and the links that go with it.
func (o *Ops) DeleteSubjectKey(ctx context.Context, tenantID string, hash []byte) error {
	_, err := o.Conn.Exec(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1 AND hash = $2`, tenantID, hash)
	return err
}

// KeyShares returns the subjects' shares of the events' keys, with each
// subject's sealed key.
func (o *Ops) KeyShares(ctx context.Context, eventIDs []string) ([]engine.KeyShareRow, error) {
	return queryAll(ctx, o.Conn, "key shares", `SELECT si.event_id, si.tenant_id, si.hash, si.key_id, si.key_share,
			sk.sealed_key
		FROM subject_index si
		JOIN subject_keys sk ON sk.tenant_id = si.tenant_id AND sk.hash = si.hash AND sk.key_id = si.key_id
		WHERE `+o.Dialect.InList("si.event_id", 1)+` AND si.key_share IS NOT NULL`, []any{o.Dialect.IDs(eventIDs)},
		func(row Row) (engine.KeyShareRow, error) {
			var r engine.KeyShareRow
			err := row.Scan(&r.EventID, &r.TenantID, &r.Hash, &r.KeyID, &r.Share, &r.SealedSubjectKey)
			return r, err
		})
}
