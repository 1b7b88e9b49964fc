// Package postgres is the shared store: PostgreSQL through a pgx pool, for
// any number of `sluice serve` processes against one database (SPEC §5).
//
// It keeps the embedded store's tables and meaning (internal/sqlite) and
// shares its sealing and column encodings (internal/storekit). What differs
// is what several processes need: deliveries are claimed with FOR UPDATE
// SKIP LOCKED and a lease (dispatch.go), new work is announced with NOTIFY
// (listen.go), background work runs in one process at a time under an
// advisory lock (exclusive.go), and migrations run under goose's session
// advisory lock so processes may start together.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/storekit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Store.
type Config struct {
	// URL is the PostgreSQL connection string (URL or key=value form,
	// including pgxpool's pool_* settings). Required.
	URL string
	// Master is the master key wrapping the tenants' data keys. Required;
	// every process sharing the database must use the same one, and a key
	// other than the one the data keys are wrapped with is refused.
	Master *seal.Master
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives ids and outcomes only; default slog.Default().
	Logger *slog.Logger
	// Schema, when set, is the schema the store's tables live in (created if
	// needed, used through search_path): tests isolate themselves with it.
	// Default: the URL's search_path when it names one plain schema (how
	// the command line picks one), else the connection's default, normally
	// public.
	Schema string
}

// Store implements sluice.Store on PostgreSQL. It is safe for concurrent
// use, and several Stores (in one process or many) may share a database.
type Store struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	logger *slog.Logger
	keys   *storekit.Keyring
	master *seal.Master

	schema string
	// channel is the NOTIFY channel for new work: "sluice_work", suffixed by
	// the schema when one is set, since channels are database-wide.
	channel string
	// claimant names this Store on the leases it takes, so ReleaseClaims
	// can end its own leases and never another live process's.
	claimant string
}

var _ sluice.Store = (*Store)(nil)

// maxIdentifier is the longest identifier, such as a NOTIFY channel name,
// PostgreSQL keeps whole.
const maxIdentifier = 63

// minPoolConns is the pool size used when the URL does not set a larger
// one: an exclusive run holds a connection for as long as its work runs.
const minPoolConns = 8

// Open connects to the database, applies the migrations (one process at a
// time, under an advisory lock) and checks the master key: an error
// wrapping seal.ErrWrongMaster if the data keys are wrapped by another.
func Open(ctx context.Context, cfg Config) (_ *Store, err error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: Config.URL is required")
	}
	if cfg.Master == nil {
		return nil, errors.New("postgres: Config.Master is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
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
		// the store's channel and locks must be that schema's too, or
		// deployments in other schemas of the database would share them.
		cfg.Schema = pcfg.ConnConfig.RuntimeParams["search_path"]
	}
	if cfg.Schema != "" {
		pcfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	// Times are stored in UTC milliseconds; the ones the store sets on what
	// it returns (CreatedAt, UpdatedAt) must read back the same.
	clock := cfg.Now
	s := &Store{
		now:      func() time.Time { return clock().UTC().Truncate(time.Millisecond) },
		logger:   cfg.Logger,
		master:   cfg.Master,
		schema:   cfg.Schema,
		channel:  "sluice_work",
		claimant: newClaimant(),
	}
	if cfg.Schema != "" {
		s.channel += "_" + cfg.Schema
		if len(s.channel) > maxIdentifier {
			h := fnv.New64a()
			h.Write([]byte(cfg.Schema))
			s.channel = fmt.Sprintf("sluice_work_%x", h.Sum64())
		}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		if err != nil {
			s.pool.Close()
		}
	}()
	if err := s.createSchema(ctx); err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if err := checkMaster(ctx, s.pool, cfg.Master); err != nil {
		return nil, err
	}
	s.keys = storekit.NewKeyring(cfg.Master, keyLoader{s.pool})
	return s, nil
}

// plainIdentifier matches a schema name that needs no quoting.
var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// newClaimant returns a random id for a Store's leases.
func newClaimant() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// migrateLockID is the advisory lock serialising migrations of the store's
// schema: processes on other schemas of the database need not wait.
func (s *Store) migrateLockID() int64 {
	h := fnv.New64a()
	h.Write([]byte("sluice.migrate\x00" + s.schema))
	return int64(h.Sum64() >> 1)
}

// createSchema creates Config.Schema if it is set and missing. Two
// CREATE SCHEMA IF NOT EXISTS at once can still collide, so it runs under
// the migration lock, for this transaction only.
func (s *Store) createSchema(ctx context.Context) error {
	if s.schema == "" {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.migrateLockID()); err != nil {
			return fmt.Errorf("lock schema creation: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{s.schema}.Sanitize()); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		return nil
	})
}

// migrate applies the embedded migrations. goose holds a session-level
// advisory lock meanwhile, so processes starting together migrate one
// after the other and the later ones find nothing to do.
func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	// Retry the lock every second for up to five minutes: the default
	// five-second period would make every waiting process start slowly.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(s.migrateLockID()), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the pool. Work listeners and exclusive runs should be
// stopped (their contexts ended) first.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// querier is what store helpers run SQL on: a transaction or the pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

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

// maxTxTries bounds how often a write is retried after PostgreSQL aborted
// it to break a deadlock or a serialization conflict.
const maxTxTries = 4

// write runs fn in a transaction and commits it. fn gets a ctx carrying the
// transaction, so that a data key its sealed columns need is read on the
// transaction's connection (see keyLoader) rather than on a second one.
//
// Writes of several processes may deadlock on rows they lock in different
// orders; PostgreSQL then aborts one, which is run again from the start,
// so fn must reset whatever it sets outside itself.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.retry(ctx, func() error { return s.writeOnce(ctx, fn) })
}

// retry runs a transaction with once until it is not aborted to break a
// deadlock or a serialization conflict, at most maxTxTries times.
func (s *Store) retry(ctx context.Context, once func() error) error {
	for try := 1; ; try++ {
		err := once()
		if err == nil || try == maxTxTries || !retryable(err) || ctx.Err() != nil {
			return err
		}
		s.logger.Debug("postgres write retried", "try", try, "error", err)
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit
	if err := fn(context.WithValue(ctx, txKey{}, querier(tx)), tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// txKey is the context key of the connection a write's transaction runs
// on, a querier.
type txKey struct{}

// SQLSTATEs of errors worth retrying and of a unique violation.
const (
	codeDeadlock      = "40P01"
	codeSerialization = "40001"
	codeUnique        = "23505"
)

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == codeDeadlock || pgErr.Code == codeSerialization)
}

// uniqueViolation reports whether err is a unique violation of the index.
func uniqueViolation(err error, index string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUnique && pgErr.ConstraintName == index
}

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS stores the zero time as NULL.
func nullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.UnixMilli()
	return &v
}

func fromNullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// notFound turns pgx.ErrNoRows into ENOTFOUND naming the resource, and
// wraps any other error with it.
func notFound(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return sluice.Errorf(sluice.ENOTFOUND, "%s not found", what)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// audit appends an audit entry for the actor in ctx.
func (s *Store) audit(ctx context.Context, tx querier, tenantID, action, resourceID string) error {
	_, err := tx.Exec(ctx,
		`INSERT INTO audit_log (id, tenant_id, actor_key_id, action, resource_id, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		sluice.NewID(sluice.PrefixAudit), tenantID, sluice.ActorFrom(ctx).KeyID, action, resourceID, ms(s.now()))
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// notifyWork announces new due work to every process listening (see
// ListenWork). Sent inside tx, it is delivered only if tx commits.
func (s *Store) notifyWork(ctx context.Context, tx querier) error {
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, s.channel); err != nil {
		return fmt.Errorf("notify work: %w", err)
	}
	return nil
}

// pageLimit clamps a page size to what lists allow.
func pageLimit(p sluice.Page) int {
	switch {
	case p.Limit <= 0:
		return 50
	case p.Limit > 500:
		return 500
	}
	return p.Limit
}
