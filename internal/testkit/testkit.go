// Package testkit is what Sluice's tests share: a clock they move by hand,
// master keys, polling with a deadline, and stores on real databases (an
// SQLite file in a temporary directory, or a PostgreSQL schema of their
// own when SLUICE_TEST_DATABASE_URL is set). Only tests import it.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
)

// Clock is a clock tests move by hand. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, millisecond-aligned time.
func NewClock() *Clock {
	return ClockAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// ClockAt returns a clock at t.
func ClockAt(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// NewMaster returns a fresh master key.
func NewMaster(tb testing.TB) *seal.Master {
	tb.Helper()
	m, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test with describe's account once within has passed.
func WaitFor(tb testing.TB, within time.Duration, cond func() bool, describe func() string) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", within, describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// OpenSQLite opens an SQLite driver on a fresh file in a temporary
// directory, closed at cleanup.
func OpenSQLite(tb testing.TB) engine.Driver {
	tb.Helper()
	d, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "sluice.db")})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	return d
}

// DatabaseURL returns SLUICE_TEST_DATABASE_URL, skipping the test when it
// is not set.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("SLUICE_TEST_DATABASE_URL")
	if url == "" {
		tb.Skip("SLUICE_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
	}
	return url
}

// NewSchema returns the name of a fresh PostgreSQL schema for one test,
// dropped with everything in it at cleanup; a driver opened on it creates
// it.
func NewSchema(tb testing.TB) string {
	tb.Helper()
	url := DatabaseURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// PostgresConfig returns a driver configuration for the schema. Pools stay
// small so parallel tests fit within the server's connection limit.
func PostgresConfig(tb testing.TB, schema string) postgres.Config {
	tb.Helper()
	url := DatabaseURL(tb)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return postgres.Config{URL: url + sep + "pool_max_conns=4", Schema: schema}
}

// OpenPostgres opens a PostgreSQL driver on the schema, skipping the test
// without SLUICE_TEST_DATABASE_URL. It is closed by the Store over it, or
// at cleanup by the caller.
func OpenPostgres(tb testing.TB, schema string) *postgres.Driver {
	tb.Helper()
	d, err := postgres.Open(context.Background(), PostgresConfig(tb, schema))
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	return d
}

// StoreOptions tune the store OpenStore opens; zero fields take the
// engine's defaults, a fresh master key, and a logger that discards.
type StoreOptions struct {
	Master          *seal.Master
	Now             func() time.Time
	Health          engine.Health
	NoticeRetention time.Duration
	// Retention is the server's retention; zero fields take the defaults.
	Retention sluice.Retention
	Anomalies *anomaly.Detector
	Logger    *slog.Logger
	Keys      engine.KeyPolicy
}

// OpenStore opens the engine over d, closed (with d) at cleanup.
func OpenStore(tb testing.TB, d engine.Driver, o StoreOptions) *engine.Store {
	tb.Helper()
	if o.Master == nil {
		o.Master = NewMaster(tb)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := engine.Open(context.Background(), engine.Config{Driver: d, Master: o.Master, Now: o.Now,
		Health: o.Health, NoticeRetention: o.NoticeRetention, Retention: o.Retention, Anomalies: o.Anomalies,
		Logger: o.Logger, Keys: o.Keys})
	if err != nil {
		d.Close()
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close store: %v", err)
		}
	})
	return s
}

// SQLiteStore opens the engine over a fresh SQLite file: the embedded
// store as `sluice serve` runs it, closed at cleanup.
func SQLiteStore(tb testing.TB, o StoreOptions) *engine.Store {
	tb.Helper()
	return OpenStore(tb, OpenSQLite(tb), o)
}
