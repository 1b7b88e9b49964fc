package postgres

// What became of a new event whose connection failed as it committed.
//
// CreateEvent sends the event's rows and COMMIT in one batch. Until the
// COMMIT's own answer is read, a failure means one of three things:
//
//   - the server refused a statement or the COMMIT itself (a
//     *pgconn.PgError of severity ERROR): PostgreSQL rolled the
//     transaction back;
//   - nothing of the batch was sent (pgconn.SafeToRetry): the transaction
//     never got its COMMIT, and ends rolled back with its connection;
//   - otherwise the batch, or part of it, went out and the connection
//     failed: a network error, or the server ending the session (FATAL).
//     The server may have committed with its answer lost on the way, or
//     not. This includes a FATAL read in place of a statement's answer:
//     while PostgreSQL waits on synchronous replication it can end a
//     session whose transaction has committed locally.
//
// An error answered for an event that was stored is what made a client
// retrying without an idempotency key store it twice. So the third case
// is settled before it is answered, on other connections of the pool: the
// transaction's id, read in its first round trip, is looked up with
// pg_xact_status, which PostgreSQL provides for this. Committed: the event
// is looked up by its id, to tell a new event from a duplicate (an insert
// whose dedup key was taken writes nothing and commits). Aborted: nothing
// was stored, and the transaction is run again on another connection, as
// one that failed before its COMMIT is. In progress: the old session has
// not finished yet and may still commit, so an event not found by its id
// proves nothing; ask again after a pause. (pgx sends a cancel request as
// it closes a broken connection, which usually ends such a session soon;
// the request may be lost with the network too.) Still undecided after
// settleWithin, or no connection to ask on: the answer says the outcome is
// unknown.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// Bounds on settling a commit whose answer was lost: how long to keep
// asking, and the pauses between the questions, doubling from the first
// to the last.
const (
	defaultSettleWithin = 5 * time.Second
	settleFirstPause    = 20 * time.Millisecond
	settleLastPause     = 500 * time.Millisecond
)

// lostBeforeCommit is the error of a new event's transaction that did not
// commit because its connection failed: it may run again on another one
// (see retryable).
type lostBeforeCommit struct{ err error }

func (e *lostBeforeCommit) Error() string { return "connection lost before commit: " + e.err.Error() }
func (e *lostBeforeCommit) Unwrap() error { return e.err }

// commitInDoubt is the error of a new event's transaction whose
// connection failed after its COMMIT may have been sent.
type commitInDoubt struct {
	xid          uint64 // the transaction's id (xid8)
	eventID      string
	observations int // how many observations the rows held
	err          error
}

func (e *commitInDoubt) Error() string { return "commit in doubt: " + e.err.Error() }
func (e *commitInDoubt) Unwrap() error { return e.err }

// errRolledBack says COMMIT answered ROLLBACK: the transaction had failed
// without an error reaching this connection.
var errRolledBack = errors.New("commit: the transaction was rolled back")

// uncommitted returns err, of a new event's transaction before its COMMIT
// was sent, as lostBeforeCommit when it ended the connection c (nil
// before one was acquired), so that the transaction runs again.
func uncommitted(ctx context.Context, c *pgconn.PgConn, err error) error {
	if ctx.Err() == nil && (lostConnection(err) || c != nil && c.IsClosed()) {
		return &lostBeforeCommit{err}
	}
	return err
}

// commitFailed classifies err, the failure of the batch that carries a
// new event's COMMIT before the COMMIT's answer was read, on connection c:
// refused by the server, or with nothing sent, it is returned as
// uncommitted returns it; else the commit is in doubt.
func commitFailed(ctx context.Context, c *pgconn.PgConn, err error, xid uint64, rows *engine.EventRows) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && statementError(pgErr) || errors.Is(err, errRolledBack) {
		return err
	}
	if pgconn.SafeToRetry(err) {
		return uncommitted(ctx, c, err)
	}
	return &commitInDoubt{xid: xid, eventID: rows.Event.ID, observations: len(rows.Observations), err: err}
}

// settleCommit finds out what became of the transaction of u on other
// connections, within settleWithin of the call even when ctx ends: a
// dispatcher is owed the deliveries of an event that was stored. It
// returns what was inserted when the transaction committed (Inserted
// false when the event's dedup key was taken); lostBeforeCommit when it
// did not; EUNAVAILABLE when that is still unknown.
func (d *Driver) settleCommit(ctx context.Context, u *commitInDoubt) (*engine.EventInserted, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.settleWithin)
	defer cancel()
	pause := settleFirstPause
	for checks := 1; ; checks++ {
		status, err := d.transactionStatus(ctx, u.xid)
		if err == nil && status == "committed" {
			var found bool
			if found, err = d.eventExists(ctx, u.eventID); err == nil {
				d.logSettled(u, "committed", checks)
				// Which observations were new is lost with the answer: no
				// drift is reported for this event.
				return &engine.EventInserted{Inserted: found, NewObservations: make([]bool, u.observations)}, nil
			}
		}
		if err == nil && status == "aborted" {
			d.logSettled(u, "not_committed", checks)
			return nil, &lostBeforeCommit{u.err}
		}
		// In progress, or the question failed, as it may on a pool whose
		// connections went down with this one: ask again.
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			d.logSettled(u, "unknown", checks)
			return nil, outcomeUnknown(u)
		case <-t.C:
		}
		pause = min(2*pause, settleLastPause)
	}
}

// transactionStatus returns pg_xact_status of the transaction id xid:
// committed, aborted or in progress. An id too old for PostgreSQL to
// remember is an error: it cannot be one of a transaction seconds old.
func (d *Driver) transactionStatus(ctx context.Context, xid uint64) (string, error) {
	var status *string
	if err := d.pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, strconv.FormatUint(xid, 10)).Scan(&status); err != nil {
		return "", fmt.Errorf("transaction status: %w", err)
	}
	if status == nil {
		return "", errors.New("transaction status: the transaction id is too old")
	}
	return *status, nil
}

// eventExists reports whether an event with the id is stored.
func (d *Driver) eventExists(ctx context.Context, id string) (bool, error) {
	var found bool
	if err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)`, id).Scan(&found); err != nil {
		return false, fmt.Errorf("look up event: %w", err)
	}
	return found, nil
}

func (d *Driver) logSettled(u *commitInDoubt, outcome string, checks int) {
	d.logger.Warn("postgres commit answer lost", slog.String("event_id", u.eventID), slog.String("outcome", outcome),
		slog.Int("checks", checks), slog.Any("error", u.err))
}

// notStored is the answer to a new event that did not commit because its
// connection failed, each time it was tried.
func notStored(err error) error {
	return fmt.Errorf("%w: %w", sluice.Errorf(sluice.EUNAVAILABLE,
		"the database connection failed and the event was not stored; retry"), err)
}

// outcomeUnknown is the answer to a new event whose commit could not be
// settled. It names the event: a client may look it up once the database
// answers again.
func outcomeUnknown(u *commitInDoubt) error {
	return fmt.Errorf("%w: %w", sluice.Errorf(sluice.EUNAVAILABLE,
		"the database connection failed as event %s was committed, and whether it was stored is unknown; "+
			"retry with the same idempotency key, which returns the event if it was stored", u.eventID), u.err)
}
