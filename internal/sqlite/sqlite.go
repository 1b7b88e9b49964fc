// Package sqlite is the embedded store: SQLite (modernc.org/sqlite, no cgo)
// in WAL mode with one writer connection and a pool of readers.
//
// Every write goes through one writer goroutine that groups the writes
// waiting for it into a single IMMEDIATE transaction (group commit): each
// write runs in its own savepoint, so one failing write does not undo the
// others, and each caller returns only after the shared commit. Concurrent
// ingest thus shares fsyncs instead of queueing for them.
package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/storekit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxBatch bounds how many writes share one transaction, so one commit's
// latency stays bounded under load.
const maxBatch = 256

// A commit costs about as much CPU (WAL frames, fsync) for one write as for
// fifty, so under load the writer waits a little for more writes to share
// it: once the last commit carried at least lingerAfter writes, up to
// linger, ending early when none has come for lingerGap. A lone write, the
// common case under light load, never waits. Measured with `sluice bench`:
// 500µs took e2e from about 7,200 to 8,100 delivered events a second; 300µs
// gave 7,800, and 2ms or 5ms were slower than none.
const (
	linger      = 500 * time.Microsecond
	lingerGap   = 100 * time.Microsecond
	lingerAfter = 4
)

// slowCommit is how long a group commit may take before the writer logs
// it: every write waiting on it, every acknowledgement, waits as long.
// With durable commits the disk's fsync is the usual cause.
const slowCommit = 100 * time.Millisecond

// Config configures a Store.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Master is the master key wrapping the tenants' data keys. Required; a
	// key other than the one the store's data keys are wrapped with is
	// refused.
	Master *seal.Master
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives ids and outcomes only; default slog.Default().
	Logger *slog.Logger

	linger, lingerGap time.Duration // tests only; default linger, lingerGap
	slowCommit        time.Duration // tests only; default slowCommit
}

// Store implements sluice.Store on SQLite.
type Store struct {
	now    func() time.Time
	logger *slog.Logger

	writeDB *sql.DB    // one connection, held by the writer goroutine
	readDB  *sql.DB    // the read pool
	conn    *sql.Conn  // the writer's connection
	stmts   *stmtCache // conn, preparing each statement once; the writer's querier

	ops        chan *writeOp
	linger     time.Duration // see linger
	lingerGap  time.Duration // see lingerGap
	slowCommit time.Duration // see slowCommit
	quit       chan struct{}
	writerDone chan struct{}

	// routes caches each tenant's destinations for routing new events. Only
	// the writer goroutine touches it; destination writes drop the tenant's
	// entry, and a failed commit drops everything.
	routes map[string][]*sluice.Destination
	// healthy holds the destinations whose health, when the writer last
	// read it, had no failures and no pause: a success recorded for one
	// changes nothing, so recordHealth skips reading it. Only the writer
	// touches it. An entry is added only from a read that changed nothing,
	// and dropped by any write to the destination; a rollback drops all.
	healthy map[string]bool

	lock *os.File          // held while the store is open; nil where unsupported
	keys *storekit.Keyring // seals and opens under the tenants' data keys
}

var _ sluice.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path, applies the
// migrations and starts the writer.
func Open(ctx context.Context, cfg Config) (_ *Store, err error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	if cfg.Master == nil {
		return nil, errors.New("sqlite: Config.Master is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// Times are stored in UTC milliseconds; the ones the store sets on what
	// it returns (CreatedAt, UpdatedAt) must read back the same.
	clock := cfg.Now
	s := &Store{
		now:        func() time.Time { return clock().UTC().Truncate(time.Millisecond) },
		logger:     cfg.Logger,
		ops:        make(chan *writeOp),
		linger:     cmp.Or(cfg.linger, linger),
		lingerGap:  cmp.Or(cfg.lingerGap, lingerGap),
		slowCommit: cmp.Or(cfg.slowCommit, slowCommit),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		routes:     make(map[string][]*sluice.Destination),
		healthy:    make(map[string]bool),
	}
	if s.lock, err = lockFile(cfg.Path + ".lock"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && s.lock != nil {
			s.lock.Close()
		}
	}()
	// synchronous=FULL: an acknowledged event survives power loss, not only a
	// process crash. Group commit amortises the extra fsync.
	// temp_store=MEMORY keeps the savepoint journal, which every write of a
	// group commit fills, in memory: on disk it was a tenth of the CPU in
	// pwrite calls, for data no crash needs. cache_size=-32768 keeps 32 MiB
	// of pages, so a backlog's indexes stay in memory.
	s.writeDB, err = sql.Open("sqlite", dsn(cfg.Path, "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)",
		"busy_timeout(10000)", "temp_store(MEMORY)", "cache_size(-32768)"))
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	s.writeDB.SetMaxOpenConns(1)
	if err := migrate(ctx, s.writeDB); err != nil {
		s.writeDB.Close()
		return nil, err
	}
	if err := checkMaster(ctx, s.writeDB, cfg.Master); err != nil {
		s.writeDB.Close()
		return nil, err
	}
	s.readDB, err = sql.Open("sqlite", dsn(cfg.Path, "query_only(1)", "busy_timeout(10000)"))
	if err != nil {
		s.writeDB.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	s.readDB.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	s.readDB.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))
	s.keys = storekit.NewKeyring(cfg.Master, keyLoader{s.readDB})
	if s.conn, err = s.writeDB.Conn(ctx); err != nil {
		s.readDB.Close()
		s.writeDB.Close()
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	s.stmts = newStmtCache(s.conn)
	go s.runWriter()
	return s, nil
}

func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close stops the writer and closes the database. Writes still queued fail.
func (s *Store) Close() error {
	close(s.quit)
	<-s.writerDone
	err := errors.Join(s.stmts.close(), s.conn.Close(), s.readDB.Close(), s.writeDB.Close())
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.readDB.PingContext(ctx)
}

// querier is what store helpers run SQL on: the writer's connection inside a
// write, or the read pool.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeOp is one caller's write waiting for the writer goroutine.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx querier) error
	done chan error
}

var errClosed = errors.New("sqlite: store closed")

// write runs fn inside the writer's current transaction and returns once that
// transaction has committed (or fn's savepoint was rolled back).
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx querier) error) error {
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case s.ops <- op:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.quit:
		return errClosed
	}
	return <-op.done
}

func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	wait := time.NewTimer(s.linger)
	wait.Stop()
	for {
		var ok bool
		if batch, ok = s.collect(batch, wait); !ok {
			return
		}
		s.commit(batch)
	}
}

// collect waits for the next write and returns the batch of writes to
// commit with it, reusing batch's array, which holds the last commit's
// writes; false once the store is closing. After a commit of at least
// lingerAfter writes it waits up to s.linger for more.
func (s *Store) collect(batch []*writeOp, wait *time.Timer) ([]*writeOp, bool) {
	busy := len(batch) >= lingerAfter
	select {
	case op := <-s.ops:
		batch = append(batch[:0], op)
	case <-s.quit:
		return nil, false
	}
	batch = s.gather(batch)
	if !busy {
		return batch, true
	}
	return s.lingerFor(batch, wait), true
}

// gather adds the writes already waiting to batch, until it is full.
func (s *Store) gather(batch []*writeOp) []*writeOp {
	for len(batch) < maxBatch {
		select {
		case op := <-s.ops:
			batch = append(batch, op)
		default:
			return batch
		}
	}
	return batch
}

// lingerFor adds writes to batch as they come, for up to s.linger, until it
// is full or none has come for s.lingerGap: once every caller is waiting
// on this commit, waiting longer only adds latency.
func (s *Store) lingerFor(batch []*writeOp, wait *time.Timer) []*writeOp {
	defer wait.Stop()
	deadline := time.Now().Add(s.linger)
	for len(batch) < maxBatch {
		gap := min(s.lingerGap, time.Until(deadline))
		if gap <= 0 {
			return batch
		}
		wait.Reset(gap)
		select {
		case op := <-s.ops:
			batch = append(batch, op)
		case <-wait.C:
			return batch
		}
	}
	return batch
}

// commit runs a batch of writes in one transaction. Each write's function
// runs with its caller's context values but never its cancellation: an
// interrupted statement would roll back the whole shared transaction.
//
// The batch first runs as it is: when every write succeeds, the common
// case, that is all. When one fails, its partial changes cannot be undone
// alone, so the transaction is rolled back and the batch runs again with
// each write in a savepoint, which costs two statements a write. A write's
// function may therefore run twice; it must keep no state but its results.
func (s *Store) commit(batch []*writeOp) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	live := 0
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		live++
	}
	var (
		shared    error
		committed time.Duration // the COMMIT statement's share
	)
	start := time.Now()
	if live > 0 {
		var again bool
		if again, committed, shared = s.runBatch(ctx, batch, errs, live, false); again {
			_, committed, shared = s.runBatch(ctx, batch, errs, live, true)
		}
	}
	if took := time.Since(start); took >= s.slowCommit {
		// Before the replies, so that the line is out when the writes return.
		s.logger.Warn("slow store commit", "writes", len(batch), "duration", took, "commit_statement", committed)
	}
	for i, op := range batch {
		if shared != nil && errs[i] == nil {
			errs[i] = shared
		}
		op.done <- errs[i]
	}
}

// runBatch runs the live writes of batch (those without an error in errs)
// in one transaction and commits it, recording each write's error in errs.
// Without savepoints, a failure among several writes rolls everything back
// and asks to run again (with savepoints). It returns how long the COMMIT
// statement took (WAL frames, fsync, any checkpoint), and the error every
// write shares, such as a failed commit.
func (s *Store) runBatch(ctx context.Context, batch []*writeOp, errs []error, live int, savepoints bool) (again bool, committed time.Duration, shared error) {
	if _, err := s.stmts.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return false, 0, fmt.Errorf("begin: %w", err)
	}
	ok := 0
	for i, op := range batch {
		if errs[i] != nil {
			continue
		}
		opCtx := context.WithoutCancel(op.ctx)
		if !savepoints {
			if errs[i] = op.fn(opCtx, s.stmts); errs[i] == nil {
				ok++
				continue
			}
			if live == 1 {
				break
			}
			s.rollback(ctx)
			errs[i] = nil // it runs again, in its savepoint
			return true, 0, nil
		}
		if _, err := s.stmts.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			errs[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		if errs[i] = op.fn(opCtx, s.stmts); errs[i] != nil {
			_, _ = s.stmts.ExecContext(ctx, "ROLLBACK TO w")
		} else {
			ok++
		}
		if _, err := s.stmts.ExecContext(ctx, "RELEASE w"); err != nil {
			s.rollback(ctx)
			return false, 0, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if ok == 0 {
		s.rollback(ctx)
		return false, 0, nil
	}
	start := time.Now()
	_, err := s.stmts.ExecContext(ctx, "COMMIT")
	committed = time.Since(start)
	if err != nil {
		s.rollback(ctx)
		return false, committed, fmt.Errorf("commit: %w", err)
	}
	return false, committed, nil
}

func (s *Store) rollback(ctx context.Context) {
	clear(s.routes)
	clear(s.healthy)
	if _, err := s.stmts.ExecContext(ctx, "ROLLBACK"); err != nil {
		s.logger.Error("sqlite rollback failed", "error", err)
	}
}

// ms converts a time to the stored Unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts stored Unix milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS stores the zero time as NULL.
func nullMS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}

// notFound wraps sql.ErrNoRows as ENOTFOUND naming the resource.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return sluice.Errorf(sluice.ENOTFOUND, "%s not found", what)
	}
	return err
}

// audit appends an audit entry for the actor in ctx.
func (s *Store) audit(ctx context.Context, tx querier, tenantID, action, resourceID string) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO audit_log (id, tenant_id, actor_key_id, action, resource_id, at) VALUES (?, ?, ?, ?, ?, ?)`,
		sluice.NewID(sluice.PrefixAudit), tenantID, sluice.ActorFrom(ctx).KeyID, action, resourceID, ms(s.now()))
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
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
