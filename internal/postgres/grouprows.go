package postgres

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// A group's rows go in one statement: the events', the payloads' and the
// deliveries' rows each as arrays, one element a row (unnest), the
// payloads and deliveries joined to the events the statement inserted.
// Sent event by event, as eventBatch does for one, a group of sixteen
// events was some fifty statements. The rare rows stay one statement a
// row: new subject keys, subject links, and observations, whose inserts
// each say whether they wrote.
//
// The semantics are eventBatch's: an event whose dedup key is taken is
// not inserted (ON CONFLICT DO NOTHING, also against an earlier event of
// the same group), and the rows hanging off it are not written. The join
// reads the events the statement inserted, not the table: a test against
// the table (EXISTS), as eventBatch has, was planned while the table was
// small as a sequential scan of it, and kept.

// groupInsert inserts the group's events, payloads and deliveries, and
// returns the ids of the events inserted.
const groupInsert = `WITH e AS (
		INSERT INTO events (` + sqldb.EventColumns + `, dedup_key, subject_paths)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::bigint[], $9::text[], $10::text[], $11::text[])
		ON CONFLICT (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
		RETURNING id),
	p AS (
		INSERT INTO event_payloads (` + sqldb.PayloadColumns + `)
		SELECT u.* FROM unnest($12::text[], $13::text[], $14::text[], $15::bytea[], $16::bytea[], $17::bytea[],
			$18::bigint[], $19::bigint[], $20::bigint[], $21::boolean[], $22::integer[])
			AS u(event_id, tenant_id, content_type, headers, body, key_share, expires_at, delivered_until,
				undelivered_until, until_delivered, hops)
		JOIN e ON e.id = u.event_id),
	d AS (
		INSERT INTO deliveries (event_id, id, tenant_id, destination_id, status, attempts,
			next_attempt_at, lease_until, claimed_by, created_at, updated_at)
		SELECT u.event_id, u.id, u.tenant_id, u.destination_id, 'pending', 0, u.next_attempt_at, u.lease_until,
			u.claimed_by, u.created_at, u.created_at
		FROM unnest($23::text[], $24::text[], $25::text[], $26::text[], $27::bigint[], $28::bigint[], $29::text[],
			$30::bigint[])
			AS u(event_id, id, tenant_id, destination_id, next_attempt_at, lease_until, claimed_by, created_at)
		JOIN e ON e.id = u.event_id)
	SELECT id FROM e`

// groupBatch queues the statements of a group's planned events (nil where
// a plan failed), as eventBatch does for one event: see readGroupRows.
func (d *Driver) groupBatch(planned []*engine.EventRows) *pgx.Batch {
	var (
		ev struct {
			id, tenant, typ, direction, source, status, state, customer []string
			received                                                    []int64
			dedup, paths                                                []*string
		}
		pl struct {
			event, tenant, contentType []string
			headers, body, keyShare    [][]byte
			expires                    []int64
			delivered, undelivered     []*int64
			untilDelivered             []bool
			hops                       []int
		}
		dl struct {
			event, id, tenant, destination []string
			next, created                  []int64
			lease                          []*int64
			claimedBy                      []*string
		}
		announce bool
	)
	b := &pgx.Batch{}
	for _, rows := range planned {
		if rows == nil {
			continue
		}
		e := &rows.Event
		queueSubjectKeys(b, rows)
		ev.id, ev.tenant, ev.typ = append(ev.id, e.ID), append(ev.tenant, e.TenantID), append(ev.typ, e.Type)
		ev.direction, ev.source = append(ev.direction, string(e.Direction)), append(ev.source, e.SourceID)
		ev.status, ev.state = append(ev.status, string(e.Status)), append(ev.state, string(e.PayloadState))
		ev.received, ev.customer = append(ev.received, sqldb.MS(e.ReceivedAt)), append(ev.customer, e.Customer)
		ev.dedup, ev.paths = append(ev.dedup, dedupOf(rows)), append(ev.paths, sqldb.EncodeSubjectPaths(rows.SubjectPaths))
		if rows.Body != nil {
			pl.event, pl.tenant = append(pl.event, e.ID), append(pl.tenant, e.TenantID)
			pl.contentType, pl.headers = append(pl.contentType, rows.ContentType), append(pl.headers, rows.Headers)
			pl.body, pl.keyShare = append(pl.body, rows.Body), append(pl.keyShare, rows.KeyShare)
			pl.expires = append(pl.expires, sqldb.MS(rows.ExpiresAt))
			pl.delivered = append(pl.delivered, sqldb.NullMS(rows.DeliveredUntil))
			pl.undelivered = append(pl.undelivered, sqldb.NullMS(rows.UndeliveredUntil))
			pl.untilDelivered, pl.hops = append(pl.untilDelivered, rows.UntilDelivered), append(pl.hops, rows.Hops)
		}
		for _, r := range rows.Deliveries {
			dl.event, dl.id = append(dl.event, e.ID), append(dl.id, r.ID)
			dl.tenant, dl.destination = append(dl.tenant, e.TenantID), append(dl.destination, r.DestinationID)
			dl.next, dl.lease = append(dl.next, sqldb.MS(r.NextAttemptAt)), append(dl.lease, sqldb.NullMS(r.LeaseUntil))
			dl.claimedBy, dl.created = append(dl.claimedBy, claimant(d, r)), append(dl.created, sqldb.MS(r.CreatedAt))
		}
		announce = announce || rows.Announce
	}
	b.Queue(groupInsert, ev.id, ev.tenant, ev.typ, ev.direction, ev.source, ev.status, ev.state, ev.received,
		ev.customer, ev.dedup, ev.paths,
		pl.event, pl.tenant, pl.contentType, pl.headers, pl.body, pl.keyShare, pl.expires,
		pl.delivered, pl.undelivered, pl.untilDelivered, pl.hops,
		dl.event, dl.id, dl.tenant, dl.destination, dl.next, dl.lease, dl.claimedBy, dl.created)
	for _, rows := range planned {
		if rows != nil {
			queueSubjectLinks(b, rows)
		}
	}
	for _, rows := range planned {
		if rows != nil {
			queueObservations(b, rows)
		}
	}
	if announce {
		b.Queue(notifyWork, d.channel)
	}
	return b
}

// readGroupRows reads the results of groupBatch's statements, and leaves
// those of any queued after them to the caller, who closes results. It
// returns what each planned event wrote (nil where a plan failed).
func readGroupRows(results pgx.BatchResults, planned []*engine.EventRows) ([]*engine.EventInserted, error) {
	keys, links, announce := 0, 0, false
	for _, rows := range planned {
		if rows != nil {
			keys, links = keys+len(rows.NewSubjectKeys), links+len(rows.Subjects)
			announce = announce || rows.Announce
		}
	}
	if err := execEach(results, keys, "insert subject key"); err != nil {
		return nil, err
	}
	rows, err := results.Query()
	var ids []string
	if err == nil {
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", mapError(err))
	}
	inserted := make(map[string]bool, len(ids))
	for _, id := range ids {
		inserted[id] = true
	}
	if err := execEach(results, links, "index subject"); err != nil {
		return nil, err
	}
	out := make([]*engine.EventInserted, len(planned))
	for i, rows := range planned {
		if rows == nil {
			continue
		}
		out[i] = &engine.EventInserted{Inserted: inserted[rows.Event.ID], NewObservations: make([]bool, len(rows.Observations))}
		for k := range rows.Observations {
			tag, err := results.Exec()
			if err != nil {
				return nil, fmt.Errorf("insert observation: %w", mapError(err))
			}
			out[i].NewObservations[k] = tag.RowsAffected() > 0
		}
	}
	if announce {
		if err := execEach(results, 1, "notify work"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// execEach reads the results of the next n statements, which return no
// rows; what names them in an error.
func execEach(results pgx.BatchResults, n int, what string) error {
	for range n {
		if _, err := results.Exec(); err != nil {
			return fmt.Errorf("%s: %w", what, mapError(err))
		}
	}
	return nil
}
