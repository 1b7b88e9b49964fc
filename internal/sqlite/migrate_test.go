package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// migrationDB returns a new database migrated up to version, the
// migrations' provider, and a function that runs a statement on it.
func migrationDB(t *testing.T, version int64) (*sql.DB, *goose.Provider, func(query string, args ...any)) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "sluice.db"), "journal_mode(WAL)", "foreign_keys(1)"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1) // as the writer: PRAGMAs hold for the migration's statements
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	return db, p, func(query string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, query, args...); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
}

// requireForeignKeys fails unless foreign keys are on and hold.
func requireForeignKeys(t *testing.T, db *sql.DB, step string) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Next() {
		t.Errorf("%s: foreign key violations after the migration", step)
	}
	rows.Close()
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("%s: foreign_keys = %d, %v; want them back on", step, fk, err)
	}
}

// Migration 7 rebuilds events, deliveries and attempts as WITHOUT ROWID
// tables. A store with data keeps every row and its foreign keys across
// the rebuild, and across its Down and Up again.
func TestLeanWritesMigrationKeepsData(t *testing.T) {
	ctx := context.Background()
	db, p, exec := migrationDB(t, 6)
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 't', 1)`)
	for _, ev := range []string{"evt_1", "evt_2"} {
		exec(`INSERT INTO events (id, tenant_id, type, direction, status, payload_state, received_at)
			VALUES (?, 'ten_1', 'a.b', 'outbound', 'pending', 'retained', 1)`, ev)
		exec(`INSERT INTO event_payloads (event_id, tenant_id, content_type, body, expires_at)
			VALUES (?, 'ten_1', 'application/json', x'00', 9)`, ev)
		exec(`INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status, attempts, created_at, updated_at, recovers)
			VALUES (?, 'ten_1', ?, 'dst_1', 'exhausted', 1, 1, 1, 1)`, "dlv_"+ev, ev)
		exec(`INSERT INTO attempts (id, tenant_id, delivery_id, event_id, destination_id, attempt, outcome, duration_ms, at)
			VALUES (?, 'ten_1', ?, ?, 'dst_1', 1, 'failed', 5, 1)`, "att_"+ev, "dlv_"+ev, ev)
	}
	counts := func() string {
		t.Helper()
		var e, d, a, pl int
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM deliveries),
			(SELECT COUNT(*) FROM attempts), (SELECT COUNT(*) FROM event_payloads)`).Scan(&e, &d, &a, &pl); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(e, d, a, pl)
	}
	withoutRowID := func(table string) bool {
		t.Helper()
		var ddl string
		if err := db.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, table).Scan(&ddl); err != nil {
			t.Fatal(err)
		}
		return strings.Contains(ddl, "WITHOUT ROWID")
	}

	for _, step := range []struct {
		name  string
		run   func() error
		clean bool // tables without rowid
	}{
		{"up", func() error { _, err := p.UpTo(ctx, 7); return err }, true},
		{"down", func() error { _, err := p.DownTo(ctx, 6); return err }, false},
		{"up again", func() error { _, err := p.UpTo(ctx, 7); return err }, true},
	} {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := counts(); got != "2 2 2 2" {
			t.Fatalf("%s: events, deliveries, attempts, payloads = %s; want 2 of each", step.name, got)
		}
		for _, table := range []string{"events", "deliveries", "attempts"} {
			if got := withoutRowID(table); got != step.clean {
				t.Errorf("%s: %s WITHOUT ROWID = %v, want %v", step.name, table, got, step.clean)
			}
		}
		requireForeignKeys(t, db, step.name)
	}
	// The rebuilt tables' foreign keys still cascade from events.
	exec(`DELETE FROM events WHERE id = 'evt_1'`)
	if got := counts(); got != "1 1 1 1" {
		t.Errorf("after deleting an event: events, deliveries, attempts, payloads = %s; want 1 of each", got)
	}
}

// Migration 9 gives every subject of the index a key row without a key
// (id 0), which its links name, and rebuilds the index to refer to it: the
// links survive it, its Down and Up again, and go with their key row.
func TestSubjectKeysMigrationKeepsLinks(t *testing.T) {
	ctx := context.Background()
	db, p, exec := migrationDB(t, 8)
	exec(`INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 't', 1)`)
	for _, ev := range []string{"evt_1", "evt_2"} {
		exec(`INSERT INTO events (id, tenant_id, type, direction, status, payload_state, received_at)
			VALUES (?, 'ten_1', 'a.b', 'outbound', 'pending', 'retained', 1)`, ev)
		exec(`INSERT INTO event_payloads (event_id, tenant_id, content_type, body, expires_at)
			VALUES (?, 'ten_1', 'application/json', x'00', 9)`, ev)
		exec(`INSERT INTO subject_index (tenant_id, hash, event_id) VALUES ('ten_1', x'01', ?)`, ev)
	}
	exec(`INSERT INTO subject_index (tenant_id, hash, event_id) VALUES ('ten_1', x'02', 'evt_1')`)
	counts := func() string {
		t.Helper()
		var links, keyed int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM subject_index`).Scan(&links); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM subject_index si JOIN subject_keys sk
			ON sk.tenant_id = si.tenant_id AND sk.hash = si.hash AND sk.key_id = si.key_id
			WHERE sk.key_id = 0 AND sk.sealed_key IS NULL AND si.key_share IS NULL`).Scan(&keyed); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(links, keyed)
	}
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"up", func() error { _, err := p.UpTo(ctx, 9); return err }},
		{"down and up", func() error {
			if _, err := p.DownTo(ctx, 8); err != nil {
				return err
			}
			_, err := p.UpTo(ctx, 9)
			return err
		}},
	} {
		if err := step.run(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := counts(); got != "3 3" {
			t.Fatalf("%s: links, links to a legacy key row = %s; want 3 of each", step.name, got)
		}
		requireForeignKeys(t, db, step.name)
	}
	// Deleting a subject's key row takes its links.
	exec(`DELETE FROM subject_keys WHERE hash = x'01'`)
	if got := counts(); got != "1 1" {
		t.Fatalf("after deleting a key: links = %s; want only the other subject's", got)
	}
}
