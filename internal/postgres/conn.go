package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

// dialect is PostgreSQL's part in the shared statements: row locks, and a
// list of ids passed as one array.
var dialect = &sqldb.Dialect{
	RowLocks: true,
	InList: func(column string, n int) string {
		return column + " = ANY($" + strconv.Itoa(n) + ")"
	},
	IDs: func(ids []string) any { return idList(ids) },
}

// idList is a list of ids as a statement's argument. A statement given one
// is planned for its arguments each time it runs (see planEach).
type idList []string

// planEach, given as a statement's first argument, has PostgreSQL plan it
// for its arguments each time it runs instead of reusing a generic plan.
//
// pgx prepares every statement, and after five runs PostgreSQL may keep one
// generic plan for the connection's life. A generic plan made while a table
// was small, which is every plan of a new database, scans the whole table;
// and a table that grows faster than autovacuum analyzes it keeps that plan.
// Statements that select rows by an array of ids suffered most: an
// attempt's recording read every event of the table, and slowed as it grew.
// A plan made for the arguments is costed with the table's size at that
// moment. Planning costs little next to the statements that need it.
const planEach = pgx.QueryExecModeExec

// planned returns the arguments as pgx takes them: an idList as a plain
// array, with planEach first.
func planned(args []any) []any {
	if !slices.ContainsFunc(args, func(a any) bool { _, ok := a.(idList); return ok }) {
		return args
	}
	out := make([]any, 1, len(args)+1)
	out[0] = planEach
	for _, a := range args {
		if ids, ok := a.(idList); ok {
			a = []string(ids)
		}
		out = append(out, a)
	}
	return out
}

// querier is pgx's way of running statements: the pool, a connection or a
// transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// conn is a querier as the shared row operations use it (sqldb.Conn), its
// errors mapped to codes.
type conn struct{ q querier }

func (c conn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, query, planned(args)...)
	if err != nil {
		return 0, mapError(err)
	}
	return tag.RowsAffected(), nil
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqldb.Rows, error) {
	rows, err := c.q.Query(ctx, query, planned(args)...)
	if err != nil {
		return nil, mapError(err)
	}
	return result{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, query string, args ...any) sqldb.Row {
	return row{c.q.QueryRow(ctx, query, planned(args)...)}
}

type row struct{ r pgx.Row }

func (r row) Scan(dest ...any) error { return mapError(r.r.Scan(dest...)) }

type result struct{ pgx.Rows }

func (r result) Scan(dest ...any) error { return mapError(r.Rows.Scan(dest...)) }

func (r result) Err() error { return mapError(r.Rows.Err()) }

// mapError gives a constraint violation its code: a unique violation is
// ECONFLICT, a foreign key violation ENOTFOUND. A lost connection is
// EUNAVAILABLE: the statement may be tried again on another one.
func mapError(err error) error {
	if lostConnection(err) {
		return unavailable(err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case codeUnique:
		return sqldb.Conflict(err)
	case codeForeignKey:
		return sqldb.MissingReference(err)
	}
	return err
}

// unavailable is EUNAVAILABLE for a lost connection, wrapping its error
// for the log. It promises nothing about writes: a transaction whose
// COMMIT may have been sent is settled before it is answered (commit.go).
func unavailable(err error) error {
	return fmt.Errorf("%w: %w", sluice.Errorf(sluice.EUNAVAILABLE, "the database connection failed; retry"), err)
}

// lostConnection reports whether err is the connection's failure rather
// than a statement's: the server could not be reached, the network
// failed, or the server ended the session (a FATAL error, such as
// pg_terminate_backend's or a shutdown's). A context that ended is the
// caller's doing, not the database's.
func lostConnection(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return !statementError(pgErr)
	}
	if _, ok := errors.AsType[*pgconn.ConnectError](err); ok {
		return true
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true
	}
	// pgconn reports a read cut short as io.ErrUnexpectedEOF, and a
	// connection it had closed already as safe to retry.
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.SafeToRetry(err)
}

// statementError reports whether the server answered with an error that
// ends the statement, and the transaction it is in, but not the session:
// severity ERROR. FATAL and PANIC end the session.
func statementError(pgErr *pgconn.PgError) bool {
	return cmp.Or(pgErr.SeverityUnlocalized, pgErr.Severity) == "ERROR"
}

// connKey is the context key of the connection a transaction runs on.
type connKey struct{}

// withConn returns ctx carrying the connection of a transaction, for
// reader to read data keys on.
func withConn(ctx context.Context, q querier) context.Context {
	return context.WithValue(ctx, connKey{}, q)
}

// reader is the row reads on the pool. It reads data keys on the
// connection of the transaction in ctx, if any: a transaction holding its
// connection while it waits for another would, with enough of them at
// once, leave the pool empty and every transaction waiting. The engine
// opens routes' secrets inside a transaction (for deliveries created
// claimed), which may load a key.
//
// Only a new tenant's transaction and a rotation insert data keys, and
// they open nothing sealed, so a key read inside a transaction is always
// committed already: the keyring never caches a key that may be rolled
// back.
type reader struct {
	sqldb.Ops
}

// on returns the row operations for key reads in ctx.
func (r *reader) on(ctx context.Context) *sqldb.Ops {
	if q, ok := ctx.Value(connKey{}).(querier); ok {
		return &sqldb.Ops{Conn: conn{q}, Dialect: dialect}
	}
	return &r.Ops
}

// NewestDataKey returns the tenant's newest data key, wrapped.
func (r *reader) NewestDataKey(ctx context.Context, tenantID string) (*engine.DataKeyRow, error) {
	return r.on(ctx).NewestDataKey(ctx, tenantID)
}

// DataKey returns the data key with the id, wrapped.
func (r *reader) DataKey(ctx context.Context, id string) ([]byte, error) {
	return r.on(ctx).DataKey(ctx, id)
}
