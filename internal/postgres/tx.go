package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// tx is a transaction: the shared row operations on it, and the
// operations PostgreSQL does its own way.
type tx struct {
	sqldb.Ops
	tx  pgx.Tx
	drv *Driver
}

var _ engine.Tx = (*tx)(nil)

func (d *Driver) newTx(ptx pgx.Tx) *tx {
	return &tx{Ops: sqldb.Ops{Conn: conn{ptx}, Dialect: dialect}, tx: ptx, drv: d}
}

// AnnounceWork notifies every process listening (ListenWork) when the
// transaction commits.
func (t *tx) AnnounceWork(ctx context.Context) error {
	if _, err := t.tx.Exec(ctx, notifyWork, t.drv.channel); err != nil {
		return fmt.Errorf("notify work: %w", err)
	}
	return nil
}

// DeleteSubjectKey deletes the tenant's key of a subject hash, and with it
// its links, and records its partition for Scrub to rewrite.
func (t *tx) DeleteSubjectKey(ctx context.Context, tenantID string, hash []byte) error {
	// The partition's name as a regclass renders it: quoted, and qualified
	// when its schema is not on the search path.
	var (
		part string
		xid  uint64
	)
	err := t.tx.QueryRow(ctx, `DELETE FROM subject_keys WHERE tenant_id = $1 AND hash = $2
		RETURNING tableoid::regclass::text, pg_current_xact_id()::text::bigint`, tenantID, hash).Scan(&part, &xid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("delete subject key: %w", mapError(err))
	}
	t.drv.markUnscrubbed(part, xid)
	return nil
}

// RenameObservations renames observations, and records the table for
// Scrub to rewrite: the old names may be personal data used as keys.
func (t *tx) RenameObservations(ctx context.Context, renames []engine.ObservationRename) error {
	if err := t.Ops.RenameObservations(ctx, renames); err != nil {
		return err
	}
	var xid uint64
	if err := t.tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&xid); err != nil {
		return fmt.Errorf("transaction id: %w", err)
	}
	t.drv.markUnscrubbed("observations", xid)
	return nil
}

// InsertEvent stores an event with everything in rows in one round trip
// (see eventBatch).
func (t *tx) InsertEvent(ctx context.Context, rows *engine.EventRows) (*engine.EventInserted, error) {
	results := t.tx.SendBatch(ctx, t.drv.eventBatch(rows))
	out, err := readEventRows(results, rows)
	if cerr := results.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("insert event rows: %w", mapError(cerr))
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eventBatch queues the statements of a new event: the event's first,
// then those that write only if it was inserted, and a notification of
// the work it makes due when rows.Announce asks for one.
//
// Two processes may insert events with the same dedup key at once: the
// unique index decides, the loser's event insert waits for the winner's
// commit and does nothing, and every later statement of the batch writes
// only if the event's row is there.
func (d *Driver) eventBatch(rows *engine.EventRows) *pgx.Batch {
	e := &rows.Event
	b := &pgx.Batch{}
	queueSubjectKeys(b, rows)
	b.Queue(`INSERT INTO events (`+sqldb.EventColumns+`, dedup_key, subject_paths)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`,
		append(sqldb.EventValues(e), dedupOf(rows), sqldb.EncodeSubjectPaths(rows.SubjectPaths))...)
	if rows.Body != nil {
		b.Queue(`INSERT INTO event_payloads (`+sqldb.PayloadColumns+`)
			SELECT $1::text, $2::text, $3::text, $4::bytea, $5::bytea, $6::bytea, $7::bigint, $8::bigint, $9::bigint,
				$10::boolean, $11::integer`+ifInserted, sqldb.PayloadValues(rows)...)
	}
	queueSubjectLinks(b, rows)
	for _, dl := range rows.Deliveries {
		b.Queue(`INSERT INTO deliveries (event_id, id, tenant_id, destination_id, status, attempts, next_attempt_at,
			lease_until, claimed_by, created_at, updated_at)
			SELECT $1::text, $2::text, $3::text, $4::text, 'pending', 0, $5::bigint, $6::bigint, $7::text, $8::bigint, $8::bigint`+
			ifInserted, e.ID, dl.ID, e.TenantID, dl.DestinationID, sqldb.MS(dl.NextAttemptAt), sqldb.NullMS(dl.LeaseUntil),
			claimant(d, dl), sqldb.MS(dl.CreatedAt))
	}
	queueObservations(b, rows)
	if rows.Announce {
		b.Queue(notifyWork, d.channel)
	}
	return b
}

// ifInserted ends each statement of a new event's rows written after its
// event's: $1 is the event id, and the row is written only if the event
// is there, which only its own insert can have put there.
const ifInserted = ` WHERE EXISTS (SELECT 1 FROM events WHERE id = $1)`

// notifyWork announces work made due to the other processes: $1 is the
// channel.
const notifyWork = `SELECT pg_notify($1, '')`

// dedupOf is the event's dedup key as stored: NULL for none.
func dedupOf(rows *engine.EventRows) *string {
	if rows.DedupDigest == "" {
		return nil
	}
	return &rows.DedupDigest
}

// queueSubjectKeys queues the inserts of the new subject keys of a new
// event, which go before its event.
func queueSubjectKeys(b *pgx.Batch, rows *engine.EventRows) {
	for _, k := range rows.NewSubjectKeys {
		b.Queue(`INSERT INTO subject_keys (tenant_id, hash, key_id, sealed_key, created_at) VALUES ($1, $2, $3, $4, $5)`,
			rows.Event.TenantID, k.Hash, k.ID, k.SealedKey, sqldb.MS(rows.Event.ReceivedAt))
	}
}

// queueSubjectLinks queues the inserts of a new event's subject links,
// written if the event was inserted.
func queueSubjectLinks(b *pgx.Batch, rows *engine.EventRows) {
	for _, l := range rows.Subjects {
		b.Queue(`INSERT INTO subject_index (event_id, tenant_id, hash, key_id, key_share)
			SELECT $1::text, $2::text, $3::bytea, $4::bigint, $5::bytea`+ifInserted,
			rows.Event.ID, rows.Event.TenantID, l.Hash, l.KeyID, l.Share)
	}
}

// queueObservations queues the inserts of a new event's observations,
// written if the event was inserted and the store has not seen them;
// each one's result says which.
func queueObservations(b *pgx.Batch, rows *engine.EventRows) {
	e := &rows.Event
	for _, o := range rows.Observations {
		b.Queue(`INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
			SELECT $2::text, $3::text, $4::text, $5::text, $6::text, $7::bigint`+ifInserted+`
			ON CONFLICT DO NOTHING`,
			e.ID, e.TenantID, o.SourceID, o.EventType, string(o.Kind), o.Name, sqldb.MS(e.ReceivedAt))
	}
}

// claimant is who holds a new delivery's lease: this driver when it is
// created claimed, else no one.
func claimant(d *Driver, dl *engine.DeliveryRow) *string {
	if dl.LeaseUntil.IsZero() {
		return nil
	}
	return &d.claimant
}

// readEventRows reads the results of eventBatch's statements, and leaves
// those of any queued after them to the caller, who closes results.
func readEventRows(results pgx.BatchResults, rows *engine.EventRows) (*engine.EventInserted, error) {
	for range rows.NewSubjectKeys {
		if _, err := results.Exec(); err != nil {
			return nil, fmt.Errorf("insert subject key: %w", mapError(err))
		}
	}
	tag, err := results.Exec()
	if err != nil {
		return nil, fmt.Errorf("insert event: %w", mapError(err))
	}
	out := &engine.EventInserted{Inserted: tag.RowsAffected() > 0, NewObservations: make([]bool, len(rows.Observations))}
	payloads := 0
	if rows.Body != nil {
		payloads = 1
	}
	for range payloads + len(rows.Subjects) + len(rows.Deliveries) {
		if _, err := results.Exec(); err != nil {
			return nil, fmt.Errorf("insert event rows: %w", mapError(err))
		}
	}
	for i := range rows.Observations {
		tag, err := results.Exec()
		if err != nil {
			return nil, fmt.Errorf("insert observation: %w", mapError(err))
		}
		out.NewObservations[i] = tag.RowsAffected() > 0
	}
	if rows.Announce {
		if _, err := results.Exec(); err != nil {
			return nil, fmt.Errorf("notify work: %w", mapError(err))
		}
	}
	return out, nil
}

// CreateEvent runs a new event's transaction in two round trips: BEGIN
// goes with the read of the routes, and the rows with COMMIT. The routes'
// rows stay locked against deletion to the end. A dedup key is checked by
// the event's insert, which does nothing when it is taken.
//
// A transaction that did not commit because its connection failed runs
// again on another one; when it never could, the error is EUNAVAILABLE
// saying the event was not stored. One whose connection failed after its
// COMMIT was sent is settled first (commit.go): committed, it is answered
// as if the answer had come; undecided, the error is EUNAVAILABLE saying
// the outcome is unknown.
func (d *Driver) CreateEvent(ctx context.Context, tenantID string, hashes [][]byte,
	plan func(routes []*engine.DestinationRow, keys []engine.SubjectKeyRow) (*engine.EventRows, error)) (*engine.EventInserted, error) {
	var out *engine.EventInserted
	err := d.retry(ctx, func() error {
		var err error
		out, err = d.createEventGrouped(ctx, tenantID, hashes, plan)
		if doubt, ok := errors.AsType[*commitInDoubt](err); ok {
			out, err = d.settleCommit(ctx, doubt)
		}
		return err
	})
	if _, ok := errors.AsType[*lostBeforeCommit](err); ok {
		return nil, notStored(err)
	}
	return out, err
}

// subjectKeysQuery reads the tenant's keys of the subject hashes $2, in
// the round trip of the routes' read.
const subjectKeysQuery = `SELECT hash, key_id, sealed_key FROM subject_keys WHERE tenant_id = $1 AND hash = ANY($2)`

func scanSubjectKeys(rows pgx.Rows, err error) ([]engine.SubjectKeyRow, error) {
	if err != nil {
		return nil, fmt.Errorf("read subject keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (engine.SubjectKeyRow, error) {
		var k engine.SubjectKeyRow
		err := row.Scan(&k.Hash, &k.ID, &k.SealedKey)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("read subject keys: %w", mapError(err))
	}
	return keys, nil
}

// createEventOnce runs a new event's transaction once. Its errors before
// the COMMIT was sent are lostBeforeCommit when they ended the
// connection; after, commitFailed classifies them.
func (d *Driver) createEventOnce(ctx context.Context, tenantID string, hashes [][]byte,
	plan func(routes []*engine.DestinationRow, keys []engine.SubjectKeyRow) (*engine.EventRows, error)) (*engine.EventInserted, error) {
	c, release, err := d.eventConn(ctx)
	if err != nil {
		return nil, uncommitted(ctx, nil, err)
	}
	inDoubt := false
	defer func() { release(inDoubt) }()
	pg := c.Conn().PgConn()
	// A data key the routes' secrets need is read on this connection (see
	// reader).
	ctx = withConn(ctx, c)
	head := &pgx.Batch{}
	head.Queue("BEGIN")
	// The transaction's id, to settle its commit by if the answer to it is
	// lost (commit.go).
	head.Queue(`SELECT pg_current_xact_id()::text::bigint`)
	head.Queue(d.read.RoutesQuery(), tenantID)
	if len(hashes) > 0 {
		head.Queue(subjectKeysQuery, tenantID, hashes)
	}
	results := c.SendBatch(ctx, head)
	var xid uint64
	_, err = results.Exec()
	if err == nil {
		err = results.QueryRow().Scan(&xid)
	}
	if err != nil {
		results.Close()
		return nil, uncommitted(ctx, pg, fmt.Errorf("begin: %w", mapError(err)))
	}
	rows, err := results.Query()
	routes, err := sqldb.ScanRoutes(result{rows}, err)
	var keys []engine.SubjectKeyRow
	if err == nil && len(hashes) > 0 {
		keys, err = scanSubjectKeys(results.Query())
	}
	if cerr := results.Close(); err == nil && cerr != nil {
		err = mapError(cerr)
	}
	if err != nil {
		return nil, uncommitted(ctx, pg, err)
	}
	er, err := plan(routes, keys)
	if err != nil {
		return nil, err
	}
	if d.hooks.beforeCommit != nil {
		d.hooks.beforeCommit(pg)
	}
	b := d.eventBatch(er)
	b.Queue("COMMIT")
	results = c.SendBatch(ctx, b)
	if d.hooks.commitSent != nil {
		d.hooks.commitSent(pg)
	}
	out, err := readEventRows(results, er)
	if err == nil {
		err = readCommit(results)
	}
	// Once COMMIT has answered, the rest of the batch (its end) can only
	// fail with the connection, which changes nothing.
	results.Close()
	if err != nil {
		err = commitFailed(ctx, pg, err, xid, er)
		_, inDoubt = errors.AsType[*commitInDoubt](err)
		return nil, err
	}
	return out, nil
}

// eventConn acquires a connection for a new event's transaction, or a
// group's. release gives it back, first rolling back the transaction a
// failed statement left open and aborted, unless its COMMIT is in doubt:
// a ROLLBACK could only follow it, and the pool drops a connection left in
// a transaction.
func (d *Driver) eventConn(ctx context.Context) (c *pgxpool.Conn, release func(inDoubt bool), err error) {
	if c, err = d.pool.Acquire(ctx); err != nil {
		return nil, nil, fmt.Errorf("begin: %w", err)
	}
	return c, func(inDoubt bool) {
		if !inDoubt && c.Conn().PgConn().TxStatus() != 'I' {
			_, _ = c.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		c.Release()
	}, nil
}

// readCommit reads the answer to COMMIT. A transaction that failed
// answers ROLLBACK, which readEventRows' errors would have come before.
func readCommit(results pgx.BatchResults) error {
	tag, err := results.Exec()
	if err != nil {
		return fmt.Errorf("commit: %w", mapError(err))
	}
	if tag.String() != "COMMIT" {
		return errRolledBack
	}
	return nil
}

// RefreshEventStatus locks the events first, in id order, and only then
// reads their deliveries in a new statement: under READ COMMITTED that
// statement sees every delivery change committed by a transaction that
// held an event's lock before, so two attempts of one event recorded at
// once cannot both leave it pending.
func (t *tx) RefreshEventStatus(ctx context.Context, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if _, err := t.Conn.Exec(ctx, `SELECT 1 FROM events WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`,
		idList(eventIDs)); err != nil {
		return fmt.Errorf("lock events: %w", err)
	}
	return t.Ops.RefreshEventStatus(ctx, eventIDs)
}

// RecordAttempts sends the statements of every attempt in one round trip,
// in the order given: the delivery's update and the attempt's insert (fed
// by the update's RETURNING, so a delivery no longer claimed gets no
// attempt), and after the last attempt of each destination the read of
// its health, once for all of them, locked when any asks. The engine gives
// them in the order of their destinations and deliveries, so concurrent
// batches take those rows in the same order, deliveries before their
// destination.
func (t *tx) RecordAttempts(ctx context.Context, as []*engine.AttemptRow, now time.Time) ([]engine.AttemptWritten, error) {
	b := &pgx.Batch{}
	lock := false
	for i, r := range as {
		a := &r.Attempt
		var next *int64
		if r.Status == sluice.DeliveryPending {
			next = sqldb.NullMS(r.NextAttemptAt)
		}
		b.Queue(`WITH d AS (UPDATE deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
				lease_until = NULL, claimed_by = NULL, updated_at = $4
				WHERE id = $5 AND tenant_id = $6 AND status = 'pending' AND attempts = $7 RETURNING id)
			INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id,
				attempt, outcome, http_status, duration_ms, error, at)
			SELECT $8::text, $6::text, d.id, $9::text, $10::text, $2::integer, $11::text, $12::integer, $13::bigint,
				$14::text, $15::bigint
			FROM d`,
			string(r.Status), a.Number, next, sqldb.MS(now), a.DeliveryID, a.TenantID, a.Number-1,
			a.ID, a.EventID, a.DestinationID, string(a.Outcome), a.HTTPStatus, a.Duration.Milliseconds(), a.Error, sqldb.MS(a.At))
		if lock = lock || r.LockHealth; lastOfDestination(as, i) {
			health := sqldb.HealthQuery
			if lock {
				health += " FOR NO KEY UPDATE"
			}
			b.Queue(health, a.DestinationID, a.TenantID)
			lock = false
		}
	}
	results := t.tx.SendBatch(ctx, b)
	out := make([]engine.AttemptWritten, len(as))
	var err error
	first := 0 // the first attempt of the destination being read
	for i := range as {
		var tag pgconn.CommandTag
		if tag, err = results.Exec(); err != nil {
			break
		}
		out[i].Recorded = tag.RowsAffected() > 0
		if !lastOfDestination(as, i) {
			continue
		}
		var s sqldb.HealthScan
		h, herr := s.Health(results.QueryRow().Scan(s.Targets()...))
		if err = herr; err != nil {
			break
		}
		for k := first; k <= i; k++ {
			out[k].Health = h
		}
		first = i + 1
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, mapError(err)
	}
	return out, nil
}

// lastOfDestination reports whether as[i] is the last of its
// destination's attempts, which come together.
func lastOfDestination(as []*engine.AttemptRow, i int) bool {
	return i == len(as)-1 || as[i+1].Attempt.DestinationID != as[i].Attempt.DestinationID
}
