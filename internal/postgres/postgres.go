// Package postgres is the shared store's driver (internal/engine):
// PostgreSQL through a pgx pool, for any number of `sluice serve`
// processes against one database (docs/operations.md, "Scaling out").
//
// What it does its own way is what several processes need: deliveries
// are claimed with FOR UPDATE SKIP LOCKED and a lease that names this
// driver (claim.go), new work is announced with NOTIFY (listen.go),
// background work runs in one process at a time under an advisory lock
// (exclusive.go), a new event and a batch of attempts go in as few round
// trips as they can (tx.go), and migrations run under goose's session
// advisory lock so processes may start together.
package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Driver.
type Config struct {
	// URL is the PostgreSQL connection string (URL or key=value form,
	// including pgxpool's pool_* settings). Required.
	URL string
	// Logger receives ids and outcomes only; default slog.Default().
	Logger *slog.Logger
	// Schema, when set, is the schema the tables live in (created if
	// needed, used through search_path): tests isolate themselves with it.
	// Default: the URL's search_path when it names one plain schema (how
	// the command line picks one), else the connection's default, normally
	// public.
	Schema string
}

// Driver is engine.Driver on PostgreSQL. It is safe for concurrent use,
// and several Drivers (in one process or many) may share a database.
type Driver struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	read   *reader

	schema string
	// channel is the NOTIFY channel for new work: "sluice_work", suffixed by
	// the schema when one is set, since channels are database-wide.
	channel string
	// claimant names this Driver on the leases it takes, so ReleaseClaims
	// can end its own leases and never another live process's.
	claimant string

	// unscrubbed are the tables (partitions of subject_keys, observations,
	// data_keys) that rows were deleted from since they were last
	// rewritten (see Scrub), with the id of the last transaction that
	// deleted from each.
	unscrubbedMu sync.Mutex
	unscrubbed   map[string]uint64

	// settleWithin bounds the settling of a commit whose answer was lost
	// (commit.go).
	settleWithin time.Duration
	// New events wait on eventRequests for a committer, which share
	// transactions among those that wait at once (group.go).
	eventRequests  chan *eventRequest
	committersQuit chan struct{}
	stopOnce       sync.Once // Close may be called more than once
	committers     sync.WaitGroup
	// hooks let tests break a new event's connection at given moments
	// (export_test.go); nil in production.
	hooks struct {
		beforeCommit func(*pgconn.PgConn) // the rows planned, nothing of them sent
		commitSent   func(*pgconn.PgConn) // the rows and COMMIT sent, no answer read
		eventWaiting func()               // a new event about to wait for a committer
	}
}

var _ engine.Driver = (*Driver)(nil)

// maxIdentifier is the longest identifier, such as a NOTIFY channel name,
// PostgreSQL keeps whole.
const maxIdentifier = 63

// minPoolConns is the pool size used when the URL does not set a larger
// one: an exclusive run holds a connection for as long as its work runs.
const minPoolConns = 8

// Open connects to the database and applies the migrations, one process at
// a time under an advisory lock.
func Open(ctx context.Context, cfg Config) (_ *Driver, err error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: Config.URL is required")
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// Deliberately not wrapped: the parse error quotes the connection
		// string, which may carry a password.
		return nil, errors.New("postgres: Config.URL is not a valid PostgreSQL connection string")
	}
	if !strings.Contains(cfg.URL, "pool_max_conns") && pcfg.MaxConns < minPoolConns {
		pcfg.MaxConns = minPoolConns
	}
	if cfg.Schema == "" && plainIdentifier.MatchString(pcfg.ConnConfig.RuntimeParams["search_path"]) {
		// A URL's search_path=name is how the command line picks a schema:
		// the driver's channel and locks must be that schema's too, or
		// deployments in other schemas of the database would share them.
		cfg.Schema = pcfg.ConnConfig.RuntimeParams["search_path"]
	}
	if cfg.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	d := &Driver{
		logger:   cmp.Or(cfg.Logger, slog.Default()),
		schema:   cfg.Schema,
		channel:  "sluice_work",
		claimant: newClaimant(),

		settleWithin: defaultSettleWithin,
	}
	if cfg.Schema != "" {
		d.channel += "_" + cfg.Schema
		if len(d.channel) > maxIdentifier {
			h := fnv.New64a()
			h.Write([]byte(cfg.Schema))
			d.channel = fmt.Sprintf("sluice_work_%x", h.Sum64())
		}
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		if err != nil {
			d.pool.Close()
		}
	}()
	d.read = &reader{Ops: sqldb.Ops{Conn: conn{d.pool}, Dialect: dialect}}
	if err := d.createSchema(ctx); err != nil {
		return nil, err
	}
	if err := d.migrate(ctx); err != nil {
		return nil, err
	}
	d.startCommitters()
	return d, nil
}

// plainIdentifier matches a schema name that needs no quoting.
var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// newClaimant returns a random id for a Driver's leases.
func newClaimant() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// migrateLockID is the advisory lock serialising migrations of the
// driver's schema: processes on other schemas of the database need not
// wait.
func (d *Driver) migrateLockID() int64 {
	h := fnv.New64a()
	h.Write([]byte("sluice.migrate\x00" + d.schema))
	return int64(h.Sum64() >> 1)
}

// createSchema creates Config.Schema if it is set and missing. Two
// CREATE SCHEMA IF NOT EXISTS at once can still collide, so it runs under
// the migration lock, for this transaction only.
func (d *Driver) createSchema(ctx context.Context) error {
	if d.schema == "" {
		return nil
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, d.migrateLockID()); err != nil {
			return fmt.Errorf("lock schema creation: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{d.schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		return nil
	})
}

// migrate applies the embedded migrations. goose holds a session-level
// advisory lock meanwhile, so processes starting together migrate one
// after the other and the later ones find nothing to do.
func (d *Driver) migrate(ctx context.Context) error {
	// Retry the lock every second for up to five minutes: the default
	// five-second period would make every waiting process start slowly.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(d.migrateLockID()), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(d.pool)
	defer db.Close()
	return sqldb.Migrate(ctx, goose.DialectPostgres, db, migrations, goose.WithSessionLocker(locker))
}

// Close closes the pool. Work listeners and exclusive runs should be
// stopped (their contexts ended) first.
func (d *Driver) Close() error {
	d.stopCommitters()
	d.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (d *Driver) Ping(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Scrub rewrites the partitions of subject_keys that rows were deleted
// from (see DeleteSubjectKey), observations after field paths stored by an
// earlier version were renamed, and data_keys after data keys were deleted
// (see DeleteDataKey, DeleteTenantKeys). VACUUM only marks a dead row's space free,
// leaving its bytes in the page until something overwrites them; VACUUM
// FULL writes the partition's live rows to a new file and drops the old
// one, so that no page of the table keeps a destroyed key. It holds the
// partition's lock while it runs: one of 64, so ingest naming subjects of
// other partitions goes on.
//
// A deleted row is copied along while a transaction that may still read
// it runs (one that began before the deletion committed, such as a
// pg_dump in progress, or a replica's or a slot's): until then the
// partition is left pending, for a later Scrub. Telling needs the role to
// see other sessions' transactions (pg_read_all_stats, or a superuser):
// without it, every session looks idle.
func (d *Driver) Scrub(ctx context.Context) (pending bool, err error) {
	d.unscrubbedMu.Lock()
	parts := maps.Clone(d.unscrubbed)
	d.unscrubbedMu.Unlock()
	for _, part := range slices.Sorted(maps.Keys(parts)) {
		deletedBy := parts[part]
		var older bool
		if err := d.pool.QueryRow(ctx, olderTransactions, strconv.FormatUint(deletedBy, 10)).Scan(&older); err != nil {
			return true, fmt.Errorf("look for transactions older than a deletion: %w", err)
		}
		if older {
			pending = true
			continue
		}
		if _, err := d.pool.Exec(ctx, `VACUUM FULL `+part); err != nil {
			return true, fmt.Errorf("rewrite %s: %w", part, err)
		}
		d.unscrubbedMu.Lock()
		if d.unscrubbed[part] == deletedBy { // else deleted from again meanwhile
			delete(d.unscrubbed, part)
		}
		d.unscrubbedMu.Unlock()
	}
	return pending, nil
}

// olderTransactions tells whether a transaction that may still see a row
// deleted by transaction $1 (an xid8) runs: a session of this database, a
// replica or replication slot holding back its snapshot horizon, or a
// prepared transaction, whose snapshot or transaction id is not newer
// than $1. age() compares the 32-bit ids modulo wraparound.
const olderTransactions = `SELECT EXISTS (
	SELECT 1 FROM pg_stat_activity
	WHERE pid <> pg_backend_pid() AND datname = current_database()
		AND (age(backend_xmin) >= age(xid($1::xid8)) OR age(backend_xid) >= age(xid($1::xid8)))
	UNION ALL
	SELECT 1 FROM pg_stat_replication WHERE age(backend_xmin) >= age(xid($1::xid8))
	UNION ALL
	SELECT 1 FROM pg_replication_slots WHERE age(xmin) >= age(xid($1::xid8)) OR age(catalog_xmin) >= age(xid($1::xid8))
	UNION ALL
	SELECT 1 FROM pg_prepared_xacts WHERE age(transaction) >= age(xid($1::xid8))
)`

// markUnscrubbed records a table that the transaction deletedBy (an xid8)
// deleted from, for the next Scrub, which waits for the newest such
// transaction.
func (d *Driver) markUnscrubbed(part string, deletedBy uint64) {
	d.unscrubbedMu.Lock()
	defer d.unscrubbedMu.Unlock()
	if d.unscrubbed == nil {
		d.unscrubbed = make(map[string]uint64)
	}
	d.unscrubbed[part] = max(d.unscrubbed[part], deletedBy)
}

// Read returns the row reads on the pool.
func (d *Driver) Read() engine.Reader { return d.read }

// Listener hears of the work other processes commit (ListenWork).
func (d *Driver) Listener() sluice.Listener { return d }

// Exclusive runs work in one process at a time (TryExclusive).
func (d *Driver) Exclusive() sluice.Exclusive { return d }

// maxTxTries bounds how often a transaction is run again after PostgreSQL
// aborted it to break a deadlock or a serialization conflict, or (a new
// event's) after its connection failed before it committed.
const maxTxTries = 4

// WithTx runs fn in a transaction and commits it. Transactions of several
// processes may deadlock on rows they lock in different orders; PostgreSQL
// then aborts one, which is run again from the start.
func (d *Driver) WithTx(ctx context.Context, fn func(ctx context.Context, tx engine.Tx) error) error {
	return d.retry(ctx, func() error {
		return pgx.BeginFunc(ctx, d.pool, func(ptx pgx.Tx) error {
			return fn(withConn(ctx, ptx), d.newTx(ptx))
		})
	})
}

// retry runs a transaction with once until it is not aborted to break a
// deadlock or a serialization conflict, nor lost with its connection
// before it committed, at most maxTxTries times.
func (d *Driver) retry(ctx context.Context, once func() error) error {
	for try := 1; ; try++ {
		err := once()
		if err == nil || try == maxTxTries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		d.logger.Debug("postgres transaction retried", "try", try, "error", err)
	}
}

// SQLSTATEs of errors worth retrying and of the violations mapped to codes.
const (
	codeDeadlock      = "40P01"
	codeSerialization = "40001"
	codeUnique        = "23505"
	codeForeignKey    = "23503"
)

func retryable(err error) bool {
	if _, ok := errors.AsType[*lostBeforeCommit](err); ok {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeDeadlock || pgErr.Code == codeSerialization)
}
