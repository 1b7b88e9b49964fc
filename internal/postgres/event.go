package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/storekit"
)

const eventColumns = storekit.EventColumnList

// CreateEvent stores an event, its payload and one pending delivery per
// matching destination in one transaction, each due after firstDelay. If
// DedupKey was seen before in the tenant it stores nothing and returns the
// first event with duplicate true. Listening processes are told of the new
// deliveries when the transaction commits.
func (s *Store) CreateEvent(ctx context.Context, in *sluice.NewEvent, firstDelay time.Duration) (*sluice.Event, bool, error) {
	sealed, err := s.keys.SealEvent(ctx, in)
	if err != nil {
		return nil, false, err
	}
	if len(in.Observations) == 0 {
		return s.createEventPipelined(ctx, in, sealed, firstDelay)
	}
	var (
		out       *sluice.Event
		duplicate bool
	)
	err = s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out, duplicate = nil, false
		e := in.Event
		wake, inserted, err := s.insertEvent(ctx, tx, &e, in, sealed, firstDelay)
		if err != nil {
			return err
		}
		if !inserted {
			out, err = s.duplicateOf(ctx, tx, in, sealed)
			duplicate = err == nil
			return err
		}
		if wake {
			if err := s.notifyWork(ctx, tx); err != nil {
				return err
			}
		}
		if err := observe(ctx, tx, in); err != nil {
			return err
		}
		out = &e
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, duplicate, nil
}

// insertEvent writes a new event with its payload, subject links and one
// pending delivery per matching destination, due after firstDelay, those it
// may claimed for in.Claim (see sluice.ClaimedAtBirth), inside a write. It
// sets e's status and payload state and in.Claims. It reports whether it
// made deliveries for dispatchers to claim, and false for inserted, having
// written nothing, when the event's dedup key is taken (duplicateOf then
// finds the event holding it and clears in.Claims).
//
// The rows go in one pipelined batch, one round trip instead of one per
// row. Two processes may take the same new key at once: the unique index
// decides, the loser's event insert waits for the winner's commit and does
// nothing, and every later statement of the batch writes only if the
// event's row is there.
func (s *Store) insertEvent(ctx context.Context, tx pgx.Tx, e *sluice.Event, in *sluice.NewEvent,
	sealed *storekit.SealedEvent, firstDelay time.Duration) (wake, inserted bool, err error) {
	dests, err := s.tenantRoutes(ctx, tx, e.TenantID)
	if err != nil {
		return false, false, err
	}
	b := s.eventRows(e, in, sealed, firstDelay, dests)
	inserted, err = readEventRows(tx.SendBatch(ctx, b), b.Len())
	if err != nil || !inserted {
		return false, false, err
	}
	return in.Unclaimed, true, nil
}

// eventRows queues the statements insertEvent sends, given the tenant's
// routes: the event's first, then those that write only if it was
// inserted. It sets e's status and payload state, and in.Claims and
// in.Unclaimed as if the event will be inserted.
func (s *Store) eventRows(e *sluice.Event, in *sluice.NewEvent, sealed *storekit.SealedEvent,
	firstDelay time.Duration, dests []*sluice.Destination) *pgx.Batch {
	now := s.now()
	var matched []*sluice.Destination
	for _, d := range dests {
		if d.Matches(e.Type, e.SourceID) {
			matched = append(matched, d)
		}
	}
	e.Status, e.PayloadState = sluice.EventUnrouted, sluice.PayloadRetained
	if len(matched) > 0 {
		e.Status = sluice.EventPending
	}
	// ifInserted ends each statement after the event's: $1 is the event id.
	const ifInserted = ` WHERE EXISTS (SELECT 1 FROM events WHERE id = $1)`
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO events (`+eventColumns+`, dedup_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
		e.ID, e.TenantID, e.Type, string(e.Direction), e.SourceID, e.Status, e.PayloadState, ms(e.ReceivedAt), sealed.Dedup)
	b.Queue(`INSERT INTO event_payloads (event_id, tenant_id, content_type, headers, body, expires_at)
		SELECT $1::text, $2::text, $3::text, $4::bytea, $5::bytea, $6::bigint`+ifInserted,
		e.ID, e.TenantID, in.Payload.ContentType, sealed.Headers, sealed.Body, ms(in.Payload.ExpiresAt))
	for _, h := range sealed.SubjectHashes {
		b.Queue(`INSERT INTO subject_index (event_id, tenant_id, hash) SELECT $1::text, $2::text, $3::bytea`+ifInserted+`
			ON CONFLICT DO NOTHING`, e.ID, e.TenantID, h)
	}
	due := ms(now.Add(firstDelay))
	in.Claims, in.Unclaimed = nil, false
	taken := map[string]int{}
	for _, d := range matched {
		id := sluice.NewID(sluice.PrefixDelivery)
		if !sluice.ClaimedAtBirth(in.Claim, d, firstDelay, taken) {
			b.Queue(`INSERT INTO deliveries (event_id, id, tenant_id, destination_id, status, attempts, next_attempt_at,
				created_at, updated_at) SELECT $1::text, $2::text, $3::text, $4::text, 'pending', 0, $5::bigint, $6::bigint, $6::bigint`+ifInserted,
				e.ID, id, e.TenantID, d.ID, due, ms(now))
			in.Unclaimed = in.Unclaimed || d.Enabled
			continue
		}
		leaseEnd := ms(in.Claim.Now.Add(in.Claim.Lease))
		b.Queue(`INSERT INTO deliveries (event_id, id, tenant_id, destination_id, status, attempts, next_attempt_at,
			lease_until, claimed_by, created_at, updated_at)
			SELECT $1::text, $2::text, $3::text, $4::text, 'pending', 0, $5::bigint, $5::bigint, $6::text, $7::bigint, $7::bigint`+ifInserted,
			e.ID, id, e.TenantID, d.ID, leaseEnd, s.claimant, ms(now))
		taken[d.ID]++
		in.Claims = append(in.Claims, storekit.NewClaim(id, e, d, in.Payload, now))
	}
	return b
}

// readEventRows reads the results of eventRows' first n statements and
// closes results. It reports false for inserted when the event's dedup
// key was taken, and nothing was written.
func readEventRows(results pgx.BatchResults, n int) (inserted bool, err error) {
	defer func() {
		if cerr := results.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("insert event rows: %w", cerr)
		}
	}()
	tag, err := results.Exec()
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	for range n - 1 {
		if _, err := results.Exec(); err != nil {
			return false, fmt.Errorf("insert event rows: %w", err)
		}
	}
	return tag.RowsAffected() > 0, nil
}

// createEventPipelined is CreateEvent's transaction for an event with no
// observations to store, the common publish and ingest, in two round trips
// instead of four: BEGIN goes with the read of the routes, and the rows
// with COMMIT. The routes' rows stay locked to the end, as in insertEvent.
// A dedup key is checked by the event's insert (see insertEvent); only
// when it is taken does a third round trip, after the commit, read the
// event that holds it.
func (s *Store) createEventPipelined(ctx context.Context, in *sluice.NewEvent, sealed *storekit.SealedEvent,
	firstDelay time.Duration) (e *sluice.Event, duplicate bool, err error) {
	err = s.retry(ctx, func() error {
		e, duplicate, err = s.createEventOnce(ctx, in, sealed, firstDelay)
		return err
	})
	return e, duplicate, err
}

func (s *Store) createEventOnce(ctx context.Context, in *sluice.NewEvent, sealed *storekit.SealedEvent,
	firstDelay time.Duration) (*sluice.Event, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("begin: %w", err)
	}
	defer conn.Release()
	defer func() {
		// A failed statement leaves the transaction open and aborted.
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	// Keys the routes' sealed columns need are read on this connection,
	// as in a write (see keyLoader).
	ctx = context.WithValue(ctx, txKey{}, querier(conn))
	e := in.Event
	head := &pgx.Batch{}
	head.Queue("BEGIN")
	head.Queue(routesQuery, e.TenantID)
	results := conn.SendBatch(ctx, head)
	if _, err := results.Exec(); err != nil {
		results.Close()
		return nil, false, fmt.Errorf("begin: %w", err)
	}
	rows, err := results.Query()
	dests, err := s.routes(ctx, rows, err)
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, err
	}
	b := s.eventRows(&e, in, sealed, firstDelay, dests)
	if in.Unclaimed {
		b.Queue(`SELECT pg_notify($1, '')`, s.channel)
	}
	b.Queue("COMMIT")
	inserted, err := readEventRows(conn.SendBatch(ctx, b), b.Len())
	if err != nil {
		return nil, false, err
	}
	if inserted {
		return &e, false, nil
	}
	// The insert did nothing once the event holding the key had committed.
	first, err := s.duplicateOf(ctx, conn, in, sealed)
	return first, err == nil, err
}

// duplicateOf returns the event holding the dedup key of in, whose insert
// wrote nothing, and clears the claims eventRows set for it. Only a taken
// dedup key lets the insert do nothing; without one, or when the event
// holding the key is gone since, it is an error.
func (s *Store) duplicateOf(ctx context.Context, q querier, in *sluice.NewEvent, sealed *storekit.SealedEvent) (*sluice.Event, error) {
	in.Claims, in.Unclaimed = nil, false
	if sealed.Dedup == nil {
		return nil, errors.New("insert event: no row written")
	}
	e, err := storekit.ScanEvent(q.QueryRow(ctx,
		`SELECT `+eventColumns+` FROM events WHERE tenant_id = $1 AND dedup_key = $2`, in.Event.TenantID, *sealed.Dedup))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errors.New("find duplicate: the conflicting event is gone")
	}
	if err != nil {
		return nil, fmt.Errorf("find duplicate: %w", err)
	}
	return e, nil
}

// Event returns an event's metadata or ENOTFOUND.
func (s *Store) Event(ctx context.Context, tenantID, id string) (*sluice.Event, error) {
	e, err := storekit.ScanEvent(s.pool.QueryRow(ctx,
		`SELECT `+eventColumns+` FROM events WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if err != nil {
		return nil, notFound(err, "event")
	}
	return e, nil
}

// Events lists a tenant's events, newest first.
func (s *Store) Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error) {
	query := `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = $1`
	args := []any{tenantID}
	for _, c := range []struct{ column, value string }{
		{"type", f.Type}, {"source_id", f.SourceID}, {"status", f.Status},
	} {
		if c.value != "" {
			query += ` AND ` + c.column + ` = ` + arg(args)
			args = append(args, c.value)
		}
	}
	if !f.Since.IsZero() {
		query += ` AND received_at >= ` + arg(args)
		args = append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		query += ` AND received_at < ` + arg(args)
		args = append(args, ms(f.Until))
	}
	return listPage(ctx, s.pool, "events", query, args, f.Page, storekit.ScanEvent, asIs, func(e *sluice.Event) string { return e.ID })
}

// RetainedPayloads counts the tenant's retained payloads and finds the
// earliest expiry.
func (s *Store) RetainedPayloads(ctx context.Context, tenantID string) (int, time.Time, error) {
	var n int
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*), MIN(expires_at) FROM event_payloads WHERE tenant_id = $1`,
		tenantID).Scan(&n, &next); err != nil {
		return 0, time.Time{}, fmt.Errorf("count payloads: %w", err)
	}
	return n, fromNullMS(next), nil
}

// Payload returns an event's payload: ENOTFOUND for an unknown event, EGONE
// when it has expired or was erased.
func (s *Store) Payload(ctx context.Context, tenantID, eventID string) (*sluice.Payload, error) {
	var state string
	var contentType *string
	var headers, body []byte
	var expires *int64
	err := s.pool.QueryRow(ctx, `SELECT e.payload_state, p.content_type, p.headers, p.body, p.expires_at
		FROM events e LEFT JOIN event_payloads p ON p.event_id = e.id WHERE e.id = $1 AND e.tenant_id = $2`,
		eventID, tenantID).Scan(&state, &contentType, &headers, &body, &expires)
	if err != nil {
		return nil, notFound(err, "event")
	}
	if state != sluice.PayloadRetained || expires == nil || !s.now().Before(fromMS(*expires)) {
		return nil, sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased")
	}
	p := &sluice.Payload{ExpiresAt: fromMS(*expires)}
	if contentType != nil {
		p.ContentType = *contentType
	}
	if p.Body, p.Headers, err = s.keys.OpenPayload(ctx, tenantID, eventID, body, headers); err != nil {
		return nil, err
	}
	return p, nil
}

// eventExists returns ENOTFOUND unless the tenant has the event.
func (s *Store) eventExists(ctx context.Context, tenantID, eventID string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM events WHERE id = $1 AND tenant_id = $2`, eventID, tenantID).Scan(&one)
	return notFound(err, "event")
}

// Deliveries lists an event's deliveries, oldest first.
func (s *Store) Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error) {
	if err := s.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	return queryAll(ctx, s.pool, "deliveries", `SELECT id, tenant_id, event_id, destination_id, status, attempts,
		next_attempt_at, created_at, updated_at FROM deliveries WHERE event_id = $1 AND tenant_id = $2 ORDER BY id`,
		[]any{eventID, tenantID}, func(row scanner) (*sluice.Delivery, error) {
			var d sluice.Delivery
			var next *int64
			var created, updated int64
			if err := row.Scan(&d.ID, &d.TenantID, &d.EventID, &d.DestinationID, &d.Status, &d.Attempts,
				&next, &created, &updated); err != nil {
				return nil, err
			}
			d.NextAttemptAt, d.CreatedAt, d.UpdatedAt = fromNullMS(next), fromMS(created), fromMS(updated)
			return &d, nil
		}, asIs)
}

// Attempts lists an event's attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error) {
	if err := s.eventExists(ctx, tenantID, eventID); err != nil {
		return nil, err
	}
	return queryAll(ctx, s.pool, "attempts", `SELECT id, tenant_id, delivery_id, event_id, destination_id, attempt,
		outcome, http_status, duration_ms, error, at FROM attempts WHERE event_id = $1 AND tenant_id = $2 ORDER BY id`,
		[]any{eventID, tenantID}, func(row scanner) (*sluice.Attempt, error) {
			var a sluice.Attempt
			var durationMS, at int64
			if err := row.Scan(&a.ID, &a.TenantID, &a.DeliveryID, &a.EventID, &a.DestinationID, &a.Number,
				&a.Outcome, &a.HTTPStatus, &durationMS, &a.Error, &at); err != nil {
				return nil, err
			}
			a.Duration, a.At = time.Duration(durationMS)*time.Millisecond, fromMS(at)
			return &a, nil
		}, asIs)
}

// refreshEventStatus recomputes the events' statuses from their deliveries.
//
// It locks the events first, in id order, and only then reads the
// deliveries in a new statement: under READ COMMITTED that statement sees
// every delivery change committed by a transaction that held an event's
// lock before, so two attempts of one event recorded at once cannot both
// leave it "pending".
//
// Both statements are planned for their arguments at each run (see
// planEach), and the status is one aggregate of the event's deliveries, so
// the only way to find them is the deliveries_event index.
func refreshEventStatus(ctx context.Context, tx querier, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM events WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`,
		planEach, eventIDs); err != nil {
		return fmt.Errorf("lock events: %w", err)
	}
	// An aggregate over no rows still yields one row: bool_or is NULL and
	// the count 0.
	_, err := tx.Exec(ctx, `UPDATE events e SET status = (SELECT CASE
		WHEN bool_or(d.status = 'pending') THEN 'pending'
		WHEN bool_or(d.status = 'exhausted') THEN 'failed'
		WHEN bool_or(d.status = 'succeeded') THEN 'delivered'
		WHEN count(*) > 0 THEN 'cancelled'
		ELSE 'unrouted' END
		FROM deliveries d WHERE d.event_id = e.id)
		WHERE e.id = ANY($1)`, planEach, eventIDs)
	if err != nil {
		return fmt.Errorf("refresh event status: %w", err)
	}
	return nil
}

// observe stores the event's observations it has not yet (see
// storekit.Observe).
func observe(ctx context.Context, tx pgx.Tx, in *sluice.NewEvent) error {
	return storekit.Observe(in, func(o sluice.Observation) (bool, error) {
		var one int
		err := tx.QueryRow(ctx, `INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1`,
			in.Event.TenantID, o.SourceID, o.EventType, o.Kind, o.Name, ms(in.Event.ReceivedAt)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
}

// Observations lists the tenant's observations, by source, type, kind and
// name.
func (s *Store) Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error) {
	return queryAll(ctx, s.pool, "observations", `SELECT source_id, event_type, kind, name, first_seen
		FROM observations WHERE tenant_id = $1 ORDER BY source_id, event_type, kind, name`, []any{tenantID},
		func(row scanner) (*sluice.Observation, error) {
			o := &sluice.Observation{}
			var first int64
			err := row.Scan(&o.SourceID, &o.EventType, &o.Kind, &o.Name, &first)
			o.FirstSeen = fromMS(first)
			return o, err
		}, asIs)
}
