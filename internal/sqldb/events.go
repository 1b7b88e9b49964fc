package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// EventColumns are the events table's columns in ScanEvent's order.
const EventColumns = `id, tenant_id, type, direction, source_id, status, payload_state, received_at, customer`

// eventTargets are the scan targets of EventColumns: received is set to
// ReceivedAt's milliseconds.
func eventTargets(e *sluice.Event, received *int64) []any {
	return []any{&e.ID, &e.TenantID, &e.Type, &e.Direction, &e.SourceID, &e.Status, &e.PayloadState, received, &e.Customer}
}

// EventValues are the event's values of EventColumns, for an insert.
func EventValues(e *sluice.Event) []any {
	return []any{e.ID, e.TenantID, e.Type, string(e.Direction), e.SourceID, string(e.Status), string(e.PayloadState),
		MS(e.ReceivedAt), e.Customer}
}

// ScanEvent scans a row of EventColumns.
func ScanEvent(row Row) (*sluice.Event, error) {
	var e sluice.Event
	var received int64
	if err := row.Scan(eventTargets(&e, &received)...); err != nil {
		return nil, err
	}
	e.ReceivedAt = FromMS(received)
	return &e, nil
}

// Event returns one of the tenant's events.
func (o *Ops) Event(ctx context.Context, tenantID, id string) (*sluice.Event, error) {
	e, err := ScanEvent(o.Conn.QueryRow(ctx, `SELECT `+EventColumns+` FROM events WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	return e, notFound(err, "event")
}

// EventByDedupKey returns the tenant's event stored under the digest.
func (o *Ops) EventByDedupKey(ctx context.Context, tenantID, digest string) (*sluice.Event, error) {
	e, err := ScanEvent(o.Conn.QueryRow(ctx, `SELECT `+EventColumns+` FROM events WHERE tenant_id = $1 AND dedup_key = $2`,
		tenantID, digest))
	return e, notFound(err, "event")
}

// Events lists the tenant's events that pass the filter, newest first.
func (o *Ops) Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error) {
	query := `SELECT ` + EventColumns + ` FROM events WHERE tenant_id = $1`
	args := []any{tenantID}
	for _, c := range []struct{ column, value string }{
		{"type", f.Type}, {"source_id", f.SourceID}, {"status", string(f.Status)}, {"customer", f.Customer},
	} {
		if c.value != "" {
			query += ` AND ` + c.column + ` = ` + arg(args)
			args = append(args, c.value)
		}
	}
	if !f.Since.IsZero() {
		query += ` AND received_at >= ` + arg(args)
		args = append(args, MS(f.Since))
	}
	if !f.Until.IsZero() {
		query += ` AND received_at < ` + arg(args)
		args = append(args, MS(f.Until))
	}
	return listPage(ctx, o.Conn, "events", query, args, f.Page, ScanEvent, func(e *sluice.Event) string { return e.ID })
}

// payloadScan is what is stored of a payload, as scanned from a LEFT JOIN
// of event_payloads, so every column may be NULL.
type payloadScan struct {
	contentType                           *string
	hops                                  *int
	expires, deliveredUntil, undelivUntil *int64
	status                                sluice.EventStatus
	p                                     engine.PayloadRow
}

// payloadColumns are what payloadScan's targets scan, of events e and
// event_payloads p.
const payloadColumns = `e.status, p.content_type, p.headers, p.body, p.key_share, p.expires_at, p.delivered_until,
	p.undelivered_until, p.hops`

func (s *payloadScan) targets() []any {
	return []any{&s.status, &s.contentType, &s.p.Headers, &s.p.Body, &s.p.KeyShare, &s.expires, &s.deliveredUntil,
		&s.undelivUntil, &s.hops}
}

func (s *payloadScan) row() *engine.PayloadRow {
	p := s.p
	if s.contentType != nil {
		p.ContentType = *s.contentType
	}
	if s.hops != nil {
		p.Hops = *s.hops
	}
	p.ExpiresAt = FromNullMS(s.expires)
	p.DeliveredUntil, p.UndeliveredUntil = FromNullMS(s.deliveredUntil), FromNullMS(s.undelivUntil)
	p.Settled = engine.Settled(s.status)
	return &p
}

// PayloadColumns are the columns of a new payload's row, in the order of
// PayloadValues.
const PayloadColumns = `event_id, tenant_id, content_type, headers, body, key_share, expires_at, delivered_until,
	undelivered_until, until_delivered, hops`

// PayloadValues are the values of the payload row of rows, a new event
// with a stored payload.
func PayloadValues(rows *engine.EventRows) []any {
	e := &rows.Event
	return []any{e.ID, e.TenantID, rows.ContentType, rows.Headers, rows.Body, rows.KeyShare, MS(rows.ExpiresAt),
		NullMS(rows.DeliveredUntil), NullMS(rows.UndeliveredUntil), rows.UntilDelivered, rows.Hops}
}

// payloadEnd is when the payload of event e, stored in p, expires: its
// delivered window once e is settled, else its undelivered window (see
// engine.PayloadRow.Until).
const payloadEnd = `CASE WHEN e.status IN ('delivered', 'unrouted') THEN COALESCE(p.delivered_until, p.expires_at)
	ELSE COALESCE(p.undelivered_until, p.expires_at) END`

// Payload returns what is stored of an event's payload; its Body is nil
// when none is.
func (o *Ops) Payload(ctx context.Context, tenantID, eventID string) (*engine.PayloadRow, error) {
	var s payloadScan
	err := o.Conn.QueryRow(ctx, `SELECT e.payload_state, `+payloadColumns+`
		FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = $1 AND e.tenant_id = $2`,
		eventID, tenantID).Scan(append([]any{&s.p.State}, s.targets()...)...)
	if err != nil {
		return nil, notFound(err, "event")
	}
	return s.row(), nil
}

// LockEvent reads one of the tenant's events and its payload, and keeps
// them from changing until the transaction ends.
func (o *Ops) LockEvent(ctx context.Context, tenantID, id string) (*sluice.Event, *engine.PayloadRow, error) {
	var s payloadScan
	var e sluice.Event
	var received int64
	err := o.Conn.QueryRow(ctx, `SELECT e.id, e.tenant_id, e.type, e.direction, e.source_id, e.status, e.payload_state,
			e.received_at, e.customer, `+payloadColumns+`
		FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = $1 AND e.tenant_id = $2`+
		o.lock("FOR NO KEY UPDATE OF e"), id, tenantID).Scan(append(eventTargets(&e, &received), s.targets()...)...)
	if err != nil {
		return nil, nil, notFound(err, "event")
	}
	e.ReceivedAt = FromMS(received)
	p := s.row()
	p.State = e.PayloadState
	return &e, p, nil
}

// eventExists returns ENOTFOUND unless the tenant has the event.
func (o *Ops) eventExists(ctx context.Context, tenantID, eventID string) error {
	var one int
	err := o.Conn.QueryRow(ctx, `SELECT 1 FROM events WHERE id = $1 AND tenant_id = $2`, eventID, tenantID).Scan(&one)
	return notFound(err, "event")
}

// Deliveries lists an event's deliveries, oldest first.
func (o *Ops) Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error) {
	if err := o.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	return queryAll(ctx, o.Conn, "deliveries", `SELECT `+deliveryColumns+` FROM deliveries
		WHERE event_id = $1 AND tenant_id = $2 ORDER BY id`, []any{eventID, tenantID}, scanDelivery)
}

// DestinationDeliveries lists a destination's deliveries, newest first;
// ENOTFOUND when the tenant has no such destination.
func (o *Ops) DestinationDeliveries(ctx context.Context, tenantID, destinationID string, page sluice.Page) ([]*sluice.Delivery, string, error) {
	var one int
	err := o.Conn.QueryRow(ctx, `SELECT 1 FROM destinations WHERE id = $1 AND tenant_id = $2`, destinationID, tenantID).Scan(&one)
	if err != nil {
		return nil, "", notFound(err, "destination")
	}
	return listPage(ctx, o.Conn, "deliveries", `SELECT `+deliveryColumns+` FROM deliveries
		WHERE destination_id = $1 AND tenant_id = $2`, []any{destinationID, tenantID}, page, scanDelivery,
		func(d *sluice.Delivery) string { return d.ID })
}

// deliveryColumns are what scanDelivery scans.
const deliveryColumns = `id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, recovers,
	created_at, updated_at`

func scanDelivery(row Row) (*sluice.Delivery, error) {
	var d sluice.Delivery
	var next *int64
	var created, updated int64
	err := row.Scan(&d.ID, &d.TenantID, &d.EventID, &d.DestinationID, &d.Status, &d.Attempts, &next,
		&d.Recovers, &created, &updated)
	d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = FromNullMS(next), FromMS(created), FromMS(updated)
	return &d, err
}

// Attempts lists an event's attempts, oldest first.
func (o *Ops) Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error) {
	if err := o.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	return queryAll(ctx, o.Conn, "attempts", `SELECT id, tenant_id, delivery_id, event_id, destination_id, attempt,
		outcome, http_status, duration_ms, error, at FROM attempts WHERE event_id = $1 AND tenant_id = $2 ORDER BY id`,
		[]any{eventID, tenantID}, func(row Row) (*sluice.Attempt, error) {
			var a sluice.Attempt
			var durationMS, at int64
			err := row.Scan(&a.ID, &a.TenantID, &a.DeliveryID, &a.EventID, &a.DestinationID, &a.Number,
				&a.Outcome, &a.HTTPStatus, &durationMS, &a.Error, &at)
			a.Duration, a.At = time.Duration(durationMS)*time.Millisecond, FromMS(at)
			return &a, err
		})
}

// Observations lists the tenant's observations by source, event type,
// kind and name.
func (o *Ops) Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error) {
	return queryAll(ctx, o.Conn, "observations", `SELECT source_id, event_type, kind, name, first_seen
		FROM observations WHERE tenant_id = $1 ORDER BY source_id, event_type, kind, name`, []any{tenantID},
		func(row Row) (*sluice.Observation, error) {
			obs := &sluice.Observation{}
			var first int64
			err := row.Scan(&obs.SourceID, &obs.EventType, &obs.Kind, &obs.Name, &first)
			obs.FirstSeen = FromMS(first)
			return obs, err
		})
}

// FieldObservations lists every tenant's field paths observed, by tenant,
// source and event type.
func (o *Ops) FieldObservations(ctx context.Context) ([]engine.TenantObservation, error) {
	return queryAll(ctx, o.Conn, "field observations", `SELECT tenant_id, source_id, event_type, kind, name, first_seen
		FROM observations WHERE kind = $1 ORDER BY tenant_id, source_id, event_type, name`, []any{string(sluice.ObservedField)},
		func(row Row) (engine.TenantObservation, error) {
			var obs engine.TenantObservation
			var first int64
			err := row.Scan(&obs.TenantID, &obs.SourceID, &obs.EventType, &obs.Kind, &obs.Name, &first)
			obs.FirstSeen = FromMS(first)
			return obs, err
		})
}

// RenameObservations gives observations new names; a new name stored
// already keeps the earlier first sighting of the two.
func (o *Ops) RenameObservations(ctx context.Context, renames []engine.ObservationRename) error {
	for _, r := range renames {
		if _, err := o.Conn.Exec(ctx, `DELETE FROM observations WHERE tenant_id = $1 AND source_id = $2
			AND event_type = $3 AND kind = $4 AND name = $5`,
			r.TenantID, r.SourceID, r.EventType, string(r.Kind), r.Name); err != nil {
			return fmt.Errorf("delete observation: %w", err)
		}
		if _, err := o.Conn.Exec(ctx, `INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (tenant_id, source_id, event_type, kind, name) DO UPDATE SET first_seen =
				CASE WHEN excluded.first_seen < observations.first_seen THEN excluded.first_seen ELSE observations.first_seen END`,
			r.TenantID, r.SourceID, r.EventType, string(r.Kind), r.New, MS(r.FirstSeen)); err != nil {
			return fmt.Errorf("store renamed observation: %w", err)
		}
	}
	return nil
}

// RetainedPayloads counts the tenant's payloads and returns the earliest
// expiry.
func (o *Ops) RetainedPayloads(ctx context.Context, tenantID string) (int, time.Time, error) {
	var n int
	var next *int64
	if err := o.Conn.QueryRow(ctx, `SELECT COUNT(*), MIN(expires_at) FROM event_payloads WHERE tenant_id = $1`,
		tenantID).Scan(&n, &next); err != nil {
		return 0, time.Time{}, fmt.Errorf("count payloads: %w", err)
	}
	return n, FromNullMS(next), nil
}

// QueueStats counts pending deliveries and destinations by state at now.
func (o *Ops) QueueStats(ctx context.Context, now time.Time) (*sluice.QueueStats, error) {
	q := &sluice.QueueStats{Destinations: map[string]int{}}
	err := o.Conn.QueryRow(ctx, `SELECT
			COUNT(*) FILTER (WHERE lease_until > $1),
			COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $1) AND next_attempt_at <= $1),
			COUNT(*) FILTER (WHERE (lease_until IS NULL OR lease_until <= $1) AND next_attempt_at > $1)
		FROM deliveries WHERE status = 'pending'`, MS(now)).Scan(&q.InFlight, &q.Due, &q.Scheduled)
	if err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	type count struct {
		state string
		n     int
	}
	counts, err := queryAll(ctx, o.Conn, "destinations", `SELECT CASE WHEN NOT enabled THEN 'disabled'
		WHEN paused_until IS NOT NULL THEN 'paused' ELSE 'active' END, COUNT(*) FROM destinations GROUP BY 1`, nil,
		func(row Row) (count, error) {
			var c count
			err := row.Scan(&c.state, &c.n)
			return c, err
		})
	for _, c := range counts {
		q.Destinations[c.state] = c.n
	}
	return q, err
}

// SubjectPayloads returns the payloads linked to the subject hash that are
// retained and expire after now, by event id.
func (o *Ops) SubjectPayloads(ctx context.Context, tenantID string, hash []byte, now time.Time) ([]*engine.SubjectPayloadRow, error) {
	return queryAll(ctx, o.Conn, "subject payloads", `SELECT e.id, e.type, e.received_at, `+payloadColumns+`
		FROM subject_index si
		JOIN events e ON e.id = si.event_id
		JOIN event_payloads p ON p.event_id = e.id
		WHERE si.tenant_id = $1 AND si.hash = $2 AND e.payload_state = 'retained' AND `+payloadEnd+` > $3
		ORDER BY e.id`, []any{tenantID, hash, MS(now)}, func(row Row) (*engine.SubjectPayloadRow, error) {
		r := &engine.SubjectPayloadRow{}
		var received int64
		var ps payloadScan
		err := row.Scan(append([]any{&r.EventID, &r.Type, &received}, ps.targets()...)...)
		r.ReceivedAt, r.Payload = FromMS(received), *ps.row()
		r.Payload.State = sluice.PayloadRetained
		return r, err
	})
}

// InsertEvent stores an event with everything in rows, statement by
// statement; it writes nothing when the event's dedup key is taken. The
// dedup key is checked by the event's insert itself, against the unique
// index it has to search anyway: a key seen before costs a lookup
// afterwards, a new one (nearly every ingested webhook) none.
func (o *Ops) InsertEvent(ctx context.Context, rows *engine.EventRows) (*engine.EventInserted, error) {
	e := &rows.Event
	if err := o.insertSubjectKeys(ctx, e.TenantID, rows.NewSubjectKeys, e.ReceivedAt); err != nil {
		return nil, err
	}
	n, err := o.Conn.Exec(ctx, `INSERT INTO events (`+EventColumns+`, dedup_key, subject_paths)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
		append(EventValues(e), nullText(rows.DedupDigest), EncodeSubjectPaths(rows.SubjectPaths))...)
	if err != nil {
		return nil, fmt.Errorf("insert event: %w", err)
	}
	if n == 0 {
		return &engine.EventInserted{}, nil
	}
	if rows.Body != nil {
		if _, err := o.Conn.Exec(ctx, `INSERT INTO event_payloads (`+PayloadColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
			$9, $10, $11)`, PayloadValues(rows)...); err != nil {
			return nil, fmt.Errorf("insert payload: %w", err)
		}
	}
	for _, l := range rows.Subjects {
		if _, err := o.Conn.Exec(ctx, `INSERT INTO subject_index (tenant_id, hash, event_id, key_id, key_share)
			VALUES ($1, $2, $3, $4, $5)`, e.TenantID, l.Hash, e.ID, l.KeyID, l.Share); err != nil {
			return nil, fmt.Errorf("index subject: %w", err)
		}
	}
	for _, d := range rows.Deliveries {
		if err := o.insertDelivery(ctx, &d.Delivery, d.LeaseUntil); err != nil {
			return nil, err
		}
	}
	out := &engine.EventInserted{Inserted: true, NewObservations: make([]bool, len(rows.Observations))}
	for i, obs := range rows.Observations {
		var one int
		err := o.Conn.QueryRow(ctx, `INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1`,
			e.TenantID, obs.SourceID, obs.EventType, string(obs.Kind), obs.Name, MS(e.ReceivedAt)).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("insert observation: %w", err)
		default:
			out.NewObservations[i] = true
		}
	}
	return out, nil
}

// insertDelivery stores a pending delivery, claimed until leaseUntil when
// that is set.
func (o *Ops) insertDelivery(ctx context.Context, d *sluice.Delivery, leaseUntil time.Time) error {
	if _, err := o.Conn.Exec(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status, attempts,
		next_attempt_at, lease_until, recovers, created_at, updated_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8, $9)`,
		d.ID, d.TenantID, d.EventID, d.DestinationID, MS(d.NextAttemptAt), NullMS(leaseUntil), d.Recovers,
		MS(d.CreatedAt), MS(d.UpdatedAt)); err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

// InsertDeliveries stores pending, unclaimed deliveries.
func (o *Ops) InsertDeliveries(ctx context.Context, ds []*sluice.Delivery) error {
	for _, d := range ds {
		if err := o.insertDelivery(ctx, d, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// nullText stores "" as NULL.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// RefreshEventStatus sets each event's status from its deliveries', as
// sluice.EventStatusOf says, in one statement for the list.
func (o *Ops) RefreshEventStatus(ctx context.Context, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if _, err := o.Conn.Exec(ctx, eventStatusSQL(o.Dialect.InList("id", 1)), o.Dialect.IDs(eventIDs)); err != nil {
		return fmt.Errorf("refresh event status: %w", err)
	}
	return nil
}

// RefreshEventStatusOf is RefreshEventStatus of one event: the same
// statement text whatever the event, for a database that prepares it once.
func (o *Ops) RefreshEventStatusOf(ctx context.Context, eventID string) error {
	if _, err := o.Conn.Exec(ctx, refreshOneSQL, eventID); err != nil {
		return fmt.Errorf("refresh event status: %w", err)
	}
	return nil
}

// refreshOneSQL is eventStatusSQL of the event $1.
var refreshOneSQL = eventStatusSQL("id = $1")

// eventStatusSQL sets the status of the events where selects from their
// deliveries': one aggregate of each event's deliveries, through their
// index by event. An aggregate over no rows still yields one row, with
// zero counts.
func eventStatusSQL(where string) string {
	return `UPDATE events SET status = (SELECT CASE
		WHEN COUNT(*) FILTER (WHERE d.status = 'pending') > 0 THEN 'pending'
		WHEN COUNT(*) FILTER (WHERE d.status = 'exhausted') > 0 THEN 'failed'
		WHEN COUNT(*) FILTER (WHERE d.status = 'succeeded') > 0 THEN 'delivered'
		WHEN COUNT(*) > 0 THEN 'cancelled'
		ELSE 'unrouted' END
		FROM deliveries d WHERE d.event_id = events.id)
		WHERE ` + where
}

// CancelDeliveries cancels the destination's pending deliveries and
// returns their events, by id.
func (o *Ops) CancelDeliveries(ctx context.Context, destinationID string, now time.Time) ([]string, error) {
	return o.endDeliveries(ctx, "destination_id = $1", destinationID, sluice.DeliveryCancelled, now)
}

// ExpireDeliveries ends pending deliveries as expired and returns their
// events, by id.
func (o *Ops) ExpireDeliveries(ctx context.Context, ids []string, now time.Time) ([]string, error) {
	return o.endDeliveries(ctx, o.Dialect.InList("id", 1), o.Dialect.IDs(ids), sluice.DeliveryExpired, now)
}

// endDeliveries ends the pending deliveries that where, with $1 as its
// argument, selects, and returns their events, by id.
func (o *Ops) endDeliveries(ctx context.Context, where string, arg any, status sluice.DeliveryStatus, now time.Time) ([]string, error) {
	ids, err := QueryStrings(ctx, o.Conn, `UPDATE deliveries SET status = $2, next_attempt_at = NULL, lease_until = NULL,
		updated_at = $3 WHERE `+where+` AND status = 'pending' RETURNING event_id`, arg, string(status), MS(now))
	if err != nil {
		return nil, fmt.Errorf("end deliveries: %w", err)
	}
	return sortedUnique(ids), nil
}

// sortedUnique sorts ids and drops repeats.
func sortedUnique(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}
