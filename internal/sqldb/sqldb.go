// Package sqldb holds the row operations of the engine's drivers
// (internal/engine) that SQLite and PostgreSQL run in the same SQL:
// written once here, over a Conn each driver adapts from its own database
// library. A driver embeds Ops in the transactions and readers it gives the
// engine and adds the operations its database does its own way (claims,
// group commit or pipelining, notifications).
//
// Statements use $1-style placeholders, which both databases read. Where
// the two differ inside an otherwise shared statement (row locks, a list of
// ids as one argument), Dialect says how.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/sluicehq/sluice"
)

// Conn is a database connection, pool or transaction, as the row
// operations use it. Errors are the driver's, mapped (see the engine's
// Driver): a unique violation is ECONFLICT, a foreign key violation
// ENOTFOUND. A Row with no result scans an error wrapping sql.ErrNoRows.
type Conn interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Row is one row of a query's result.
type Row interface {
	Scan(dest ...any) error
}

// Rows are a query's result.
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}

// Dialect is what differs between the databases inside the shared
// statements.
type Dialect struct {
	// RowLocks says whether the database locks rows (SELECT … FOR UPDATE).
	// Without them (SQLite, one writer at a time) a statement's lock
	// clause is left out.
	RowLocks bool
	// InList returns the condition that column is one of the ids in the
	// statement's argument n, and IDs the argument for those ids.
	InList func(column string, n int) string
	IDs    func(ids []string) any
}

// Ops are the shared row operations on one Conn. A driver's reader and
// transaction types embed it.
type Ops struct {
	Conn    Conn
	Dialect *Dialect
	// DestinationChanged, when set, is called with the id of each
	// destination an operation writes, and its tenant when the operation
	// knows it (else ""), as it writes it: a driver that keeps destination
	// rows in memory forgets them.
	DestinationChanged func(tenantID, id string)
}

// lock returns the lock clause for a database with row locks, else "".
func (o *Ops) lock(clause string) string {
	if !o.Dialect.RowLocks {
		return ""
	}
	return " " + clause
}

// changed reports a destination written.
func (o *Ops) changed(tenantID, id string) {
	if o.DestinationChanged != nil {
		o.DestinationChanged(tenantID, id)
	}
}

// exec runs a statement that must change a row: ENOTFOUND naming what
// when it changes none.
func (o *Ops) execOne(ctx context.Context, what, query string, args ...any) error {
	n, err := o.Conn.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return sluice.Errorf(sluice.ENOTFOUND, "%s not found", what)
	}
	return nil
}

// notFound turns a missing row into ENOTFOUND naming what.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sluice.Errorf(sluice.ENOTFOUND, "%s not found", what)
	}
	return err
}

// MS is a time as stored: Unix milliseconds.
func MS(t time.Time) int64 { return t.UnixMilli() }

// NullMS stores the zero time as NULL.
func NullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

// FromMS reads a stored time as UTC.
func FromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// FromNullMS reads a stored time that may be NULL.
func FromNullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return FromMS(*v)
}

// CeilMS is t in Unix milliseconds, rounded up, so a start stored at
// millisecond precision is never earlier than the one reserved.
func CeilMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return ms
}

// NullMicros stores a zero time in Unix microseconds as NULL.
func NullMicros(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// FromNullMicros reads a time in Unix microseconds that may be NULL.
func FromNullMicros(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// Conflict is what a driver returns for a unique violation: ECONFLICT,
// wrapping the database's error for the log.
func Conflict(err error) error {
	return fmt.Errorf("%w: %w", sluice.Errorf(sluice.ECONFLICT, "it exists already"), err)
}

// MissingReference is what a driver returns for a foreign key violation:
// ENOTFOUND, wrapping the database's error for the log.
func MissingReference(err error) error {
	return fmt.Errorf("%w: %w", sluice.Errorf(sluice.ENOTFOUND, "what it refers to does not exist"), err)
}

// Migrate applies the migrations in fsys's folder "migrations" to db, in
// the dialect given, with goose's provider options.
func Migrate(ctx context.Context, dialect goose.Dialect, db *sql.DB, fsys fs.FS, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(dialect, db, sub, opts...)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
