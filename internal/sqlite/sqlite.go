// Package sqlite is the embedded store's driver (internal/engine): SQLite
// (modernc.org/sqlite, no cgo) in WAL mode, with one writer connection and
// a pool of readers, owned by one process.
//
// Every write goes through one writer goroutine that groups the writes
// waiting for it into a single IMMEDIATE transaction (group commit, see
// writer.go), so concurrent ingest shares fsyncs instead of queueing for
// them. Being the only writer, the driver also keeps in memory what it
// last read of the tenants' routes and of destinations' health, and
// forgets them as it writes them.
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
	"path/filepath"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures a Driver.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Logger receives ids and outcomes only; default slog.Default().
	Logger *slog.Logger

	linger, lingerGap time.Duration // tests only; default linger, lingerGap
	slowCommit        time.Duration // tests only; default slowCommit
}

// Driver is engine.Driver on SQLite.
type Driver struct {
	logger *slog.Logger
	path   string // the database file

	writeDB *sql.DB    // one connection, held by the writer goroutine
	readDB  *sql.DB    // the read pool
	conn    *sql.Conn  // the writer's connection
	stmts   *stmtCache // conn, preparing each statement once
	read    *sqldb.Ops // the read pool's row operations
	tx      *tx        // the writer's transaction; only the writer goroutine uses it

	ops        chan *writeOp
	linger     time.Duration // see linger
	lingerGap  time.Duration // see lingerGap
	slowCommit time.Duration // see slowCommit
	quit       chan struct{}
	writerDone chan struct{}

	lock *os.File // held while the driver is open; nil where unsupported
}

var _ engine.Driver = (*Driver)(nil)

// Open opens (creating if needed) the database at cfg.Path, applies the
// migrations and starts the writer. The file is locked while the driver
// is open: another process (or another Open) is refused.
func Open(ctx context.Context, cfg Config) (_ *Driver, err error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: Config.Path is required")
	}
	d := &Driver{
		logger:     cmp.Or(cfg.Logger, slog.Default()),
		path:       cfg.Path,
		ops:        make(chan *writeOp),
		linger:     cmp.Or(cfg.linger, linger),
		lingerGap:  cmp.Or(cfg.lingerGap, lingerGap),
		slowCommit: cmp.Or(cfg.slowCommit, slowCommit),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if d.lock, err = lockFile(cfg.Path + ".lock"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && d.lock != nil {
			d.lock.Close()
		}
	}()
	if err := ownerOnly(cfg.Path); err != nil {
		return nil, err
	}
	// synchronous=FULL: an acknowledged event survives power loss, not only a
	// process crash. Group commit amortises the extra fsync.
	// temp_store=MEMORY keeps the savepoint journal, which every write of a
	// group commit fills, in memory: on disk it was a tenth of the CPU in
	// pwrite calls, for data no crash needs. cache_size=-32768 keeps 32 MiB
	// of pages, so a backlog's indexes stay in memory. secure_delete=1
	// overwrites what a deletion frees, in its page or as a free page, with
	// zeros (see Scrub).
	d.writeDB, err = sql.Open("sqlite", dsn(cfg.Path, "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)",
		"busy_timeout(10000)", "temp_store(MEMORY)", "cache_size(-32768)", "secure_delete(1)"))
	if err != nil {
		return nil, fmt.Errorf("open writer: %w", err)
	}
	d.writeDB.SetMaxOpenConns(1)
	if err := sqldb.Migrate(ctx, goose.DialectSQLite3, d.writeDB, migrations); err != nil {
		d.writeDB.Close()
		return nil, err
	}
	d.readDB, err = sql.Open("sqlite", dsn(cfg.Path, "query_only(1)", "busy_timeout(10000)"))
	if err != nil {
		d.writeDB.Close()
		return nil, fmt.Errorf("open readers: %w", err)
	}
	d.readDB.SetMaxOpenConns(max(4, 2*runtime.GOMAXPROCS(0)))
	d.readDB.SetMaxIdleConns(max(4, 2*runtime.GOMAXPROCS(0)))
	if d.conn, err = d.writeDB.Conn(ctx); err != nil {
		d.readDB.Close()
		d.writeDB.Close()
		return nil, fmt.Errorf("writer connection: %w", err)
	}
	d.stmts = newStmtCache(d.conn)
	d.read = &sqldb.Ops{Conn: conn{d.readDB}, Dialect: dialect}
	d.tx = newTx(d.stmts)
	go d.runWriter()
	return d, nil
}

func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + path + "?" + q.Encode()
}

// Close stops the writer and closes the database. Writes still queued fail.
func (d *Driver) Close() error {
	close(d.quit)
	<-d.writerDone
	err := errors.Join(d.stmts.close(), d.conn.Close(), d.readDB.Close(), d.writeDB.Close())
	if d.lock != nil {
		err = errors.Join(err, d.lock.Close())
	}
	return err
}

// Ping checks that the database answers.
func (d *Driver) Ping(ctx context.Context) error {
	return d.readDB.PingContext(ctx)
}

// Read returns the row reads on the read pool.
func (d *Driver) Read() engine.Reader { return d.read }

// Listener is nil: one process owns the database, so no other stores work
// in it.
func (d *Driver) Listener() sluice.Listener { return nil }

// Exclusive is nil: one process owns the database.
func (d *Driver) Exclusive() sluice.Exclusive { return nil }

// Scrub leaves no deleted row readable in the database's files. With
// secure_delete on, what a deletion frees is zeroed as it commits, but the
// write-ahead log keeps the images of pages as they were written before,
// until a checkpoint has copied the newest image of every page into the
// database. Scrub has the writer checkpoint the log after its next commit,
// outside any transaction, and truncate it to nothing.
// Nothing waits: a checkpoint waits (busy_timeout) for the readers of older
// snapshots itself.
func (d *Driver) Scrub(ctx context.Context) (pending bool, err error) {
	return false, d.submit(ctx, &writeOp{ctx: ctx, fn: func(context.Context) error { return nil },
		done: make(chan error, 1), checkpoint: true})
}

// WithTx runs fn in the writer's transaction (see write).
func (d *Driver) WithTx(ctx context.Context, fn func(ctx context.Context, tx engine.Tx) error) error {
	return d.write(ctx, func(ctx context.Context) error { return fn(ctx, d.tx) })
}

// CreateEvent reads the routes and the subjects' keys and inserts the
// event's rows in one write.
func (d *Driver) CreateEvent(ctx context.Context, tenantID string, hashes [][]byte,
	plan func(routes []*engine.DestinationRow, keys []engine.SubjectKeyRow) (*engine.EventRows, error)) (*engine.EventInserted, error) {
	var out *engine.EventInserted
	err := d.write(ctx, func(ctx context.Context) error {
		routes, err := d.tx.Routes(ctx, tenantID)
		if err != nil {
			return err
		}
		var keys []engine.SubjectKeyRow
		if len(hashes) > 0 {
			if keys, err = d.tx.SubjectKeys(ctx, tenantID, hashes); err != nil {
				return err
			}
		}
		rows, err := plan(routes, keys)
		if err != nil {
			return err
		}
		out, err = d.tx.InsertEvent(ctx, rows)
		return err
	})
	return out, err
}

// ownerOnly makes the database at path, and its WAL and shared-memory
// files if they exist, readable by their owner only: they hold sealed
// payloads, wrapped keys and metadata. A new database is created 0600
// here, before SQLite would create it with the umask's wider default;
// SQLite gives the WAL and shared-memory files it creates later the
// database file's permissions.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(name, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restrict %s: %w", filepath.Base(name), err)
		}
	}
	return nil
}
