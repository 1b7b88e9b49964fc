package postgres_test

// A new event whose connection fails as it commits, at chosen moments:
// after COMMIT was carried out (the answer is lost), before it was sent
// (the session was terminated), and while the transaction still waits (the
// outcome cannot be known yet).

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// commitBundle is a store over a driver whose new events' connections
// the test breaks, the driver's log, and a connection of the test's own
// on the same schema.
type commitBundle struct {
	driver   *postgres.Driver
	store    *engine.Store
	admin    *pgx.Conn
	tenantID string
	logs     *testlog.Buffer
}

// setupCommit opens the bundle, its driver connecting through the proxy
// when one is given.
func setupCommit(t *testing.T, proxy *pgProxy) *commitBundle {
	t.Helper()
	ctx := context.Background()
	schema := testkit.NewSchema(t)
	logs := &testlog.Buffer{}
	cfg := testkit.PostgresConfig(t, schema)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if proxy != nil {
		cfg.URL = proxy.url(cfg.URL)
	}
	d, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	b := &commitBundle{driver: d, store: testkit.OpenStore(t, d, testkit.StoreOptions{}), logs: logs}
	b.tenantID = tenantWithDestination(t, b.store)
	b.admin = adminConn(t, schema)
	return b
}

// adminConn connects to the test database with the schema on its search
// path, closed at cleanup.
func adminConn(t *testing.T, schema string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	cc, err := pgx.ParseConfig(testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cc.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// newEvent returns a new event of the type for the bundle's tenant, under
// the dedup key (none when empty).
func (b *commitBundle) newEvent(eventType, dedupKey string) *sluice.NewEvent {
	return &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: b.tenantID, Type: eventType,
			Direction: sluice.Outbound, ReceivedAt: time.Now()},
		DedupKey: dedupKey,
		Payload:  sluice.Payload{Body: []byte(`{"n":1}`), ContentType: "application/json"},
	}
}

// count runs a count query on the admin connection.
func (b *commitBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitIdle waits until the session pid is idle outside a transaction: it
// has carried out the COMMIT sent to it and answered.
func (b *commitBundle) waitIdle(t *testing.T, pid uint32) {
	t.Helper()
	testkit.WaitFor(t, 5*time.Second, func() bool {
		return b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'idle'`, pid) == 1
	}, func() string { return "the session did not commit" })
}

// terminate ends the session pid and waits until it is gone.
func (b *commitBundle) terminate(t *testing.T, pid uint32) {
	t.Helper()
	var ok bool
	if err := b.admin.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("session %d not terminated (%v)", pid, err)
	}
	testkit.WaitFor(t, 5*time.Second, func() bool {
		return b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid) == 0
	}, func() string { return "the terminated session is still there" })
}

// outcomes counts the driver's settled commits by outcome.
func (b *commitBundle) outcomes(outcome string) int {
	return strings.Count(b.logs.String(), "outcome="+outcome)
}

// COMMIT is carried out and its answer lost with the connection: the
// event is answered as stored, with the deliveries created claimed for
// the caller, and nothing is stored twice.
func TestCommitAnswerLost(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	postgres.BreakCommits(b.driver, nil, func(pg *pgconn.PgConn) {
		b.waitIdle(t, pg.PID())
		pg.Conn().Close()
	})
	ne := b.newEvent("commit.lost", "")
	ne.Claim = &sluice.ClaimRequest{Now: time.Now(), Limit: 10, Lease: time.Minute}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil {
		t.Fatalf("CreateEvent whose answer to COMMIT was lost: %v", err)
	}
	if created.Event.ID != ne.Event.ID || created.Duplicate {
		t.Fatalf("created %s (duplicate %v), want the new event %s", created.Event.ID, created.Duplicate, ne.Event.ID)
	}
	if len(created.Claims) != 1 {
		t.Fatalf("%d deliveries created claimed, want 1: the dispatcher must get them", len(created.Claims))
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE id = $1`, ne.Event.ID); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM deliveries WHERE event_id = $1 AND id = $2 AND lease_until IS NOT NULL`,
		ne.Event.ID, created.Claims[0].Delivery.ID); n != 1 {
		t.Fatalf("the claimed delivery is not stored leased (%d rows)", n)
	}
	if got := b.outcomes("committed"); got != 1 {
		t.Errorf("%d commits settled as committed, want 1; log:\n%s", got, b.logs)
	}
}

// The answer to COMMIT is lost for an event whose dedup key was taken:
// the transaction committed without writing, and the first event is the
// answer.
func TestCommitAnswerLostForDuplicate(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	first, err := b.store.CreateEvent(ctx, b.newEvent("commit.dup", "key-1"), 0)
	if err != nil {
		t.Fatal(err)
	}
	postgres.BreakCommits(b.driver, nil, func(pg *pgconn.PgConn) {
		b.waitIdle(t, pg.PID())
		pg.Conn().Close()
	})
	again, err := b.store.CreateEvent(ctx, b.newEvent("commit.dup", "key-1"), 0)
	if err != nil {
		t.Fatalf("CreateEvent of a duplicate whose answer to COMMIT was lost: %v", err)
	}
	if !again.Duplicate || again.Event.ID != first.Event.ID {
		t.Fatalf("got %s (duplicate %v), want the first event %s as a duplicate", again.Event.ID, again.Duplicate, first.Event.ID)
	}
	if n := b.count(t, `SELECT count(*) FROM events`); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
}

// The session is terminated before COMMIT is sent: the transaction runs
// again on another connection and the event is stored once. When that
// fails every time, the answer says the event was not stored, which holds.
func TestCommitLostBeforeCommit(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	kills := 0
	postgres.BreakCommits(b.driver, func(pg *pgconn.PgConn) {
		if kills == 0 {
			kills++
			b.terminate(t, pg.PID())
		}
	}, nil)
	ne := b.newEvent("commit.killed", "")
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil {
		t.Fatalf("CreateEvent whose first session was terminated before COMMIT: %v", err)
	}
	if created.Event.ID != ne.Event.ID || created.Duplicate {
		t.Fatalf("created %s (duplicate %v), want %s", created.Event.ID, created.Duplicate, ne.Event.ID)
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE id = $1`, ne.Event.ID); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	// The batch went out to a terminated session: its COMMIT was in doubt
	// until the transaction's status said it had not committed.
	if got := b.outcomes("not_committed"); got != 1 {
		t.Errorf("%d commits settled as not committed, want 1; log:\n%s", got, b.logs)
	}

	postgres.BreakCommits(b.driver, func(pg *pgconn.PgConn) { b.terminate(t, pg.PID()) }, nil)
	ne = b.newEvent("commit.killed", "")
	_, err = b.store.CreateEvent(ctx, ne, 0)
	if sluice.ErrorCode(err) != sluice.EUNAVAILABLE || !strings.Contains(sluice.ErrorMessage(err), "was not stored") {
		t.Fatalf("CreateEvent whose every session was terminated: %v (%s), want unavailable: not stored", err, sluice.ErrorCode(err))
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE id = $1`, ne.Event.ID); n != 0 {
		t.Fatalf("%d events stored after an answer that it was not", n)
	}
}

// The database cannot be reached from the moment the COMMIT was carried
// out until the settling gives up: the answer says the outcome is unknown
// and names the event, and a retry with the same dedup key, once the
// database answers again, returns that event.
func TestCommitOutcomeUnknown(t *testing.T) {
	t.Parallel()
	p := newPGProxy(t)
	b := setupCommit(t, p)
	ctx := context.Background()
	postgres.SetSettleWithin(b.driver, 300*time.Millisecond)
	postgres.BreakCommits(b.driver, nil, func(pg *pgconn.PgConn) {
		b.waitIdle(t, pg.PID())
		p.refuse(true)
		p.cut()
		// The answer may have come through already: it is lost here.
		pg.Conn().Close()
	})
	ne := b.newEvent("commit.unknown", "key-1")
	_, err := b.store.CreateEvent(ctx, ne, 0)
	b.wantUnknown(t, err, ne.Event.ID)

	postgres.BreakCommits(b.driver, nil, nil)
	p.refuse(false)
	b.wantDuplicateOf(t, "commit.unknown", "key-1", ne.Event.ID)
}

// The connection fails while the transaction, its COMMIT already sent,
// waits for a lock, and the cancel request pgx sends as it closes the
// connection is lost too: until the transaction ends nobody can know
// whether it commits, and an event not found by its id proves nothing.
// The answer says the outcome is unknown; the transaction then commits
// after all, and a retry with the same dedup key returns its event.
func TestCommitInProgress(t *testing.T) {
	t.Parallel()
	p := newPGProxy(t)
	p.dropCancelRequests()
	b := setupCommit(t, p)
	ctx := context.Background()
	postgres.SetSettleWithin(b.driver, 300*time.Millisecond)

	// The event's insert of its type's observation waits for this
	// transaction, which inserted the same row first.
	blocker, err := b.admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `INSERT INTO observations (tenant_id, source_id, event_type, kind, name, first_seen)
		VALUES ($1, '', 'commit.waits', 'type', '', 0)`, b.tenantID); err != nil {
		t.Fatal(err)
	}
	postgres.BreakCommits(b.driver, nil, func(pg *pgconn.PgConn) {
		testkit.WaitFor(t, 5*time.Second, func() bool {
			return b.count(t, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'`, pg.PID()) == 1
		}, func() string { return "the transaction does not wait for the lock" })
		p.cut()
	})
	ne := b.newEvent("commit.waits", "key-1")
	_, err = b.store.CreateEvent(ctx, ne, 0)
	b.wantUnknown(t, err, ne.Event.ID)
	if strings.Contains(b.logs.String(), "checks=1 ") {
		t.Errorf("settled at the first check, want it asked again while the transaction ran; log:\n%s", b.logs)
	}

	postgres.BreakCommits(b.driver, nil, nil)
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Its session still had the rows and COMMIT to carry out.
	testkit.WaitFor(t, 5*time.Second, func() bool {
		return b.count(t, `SELECT count(*) FROM events WHERE id = $1`, ne.Event.ID) == 1
	}, func() string { return "the event whose outcome was unknown never committed" })
	b.wantDuplicateOf(t, "commit.waits", "key-1", ne.Event.ID)
}

// wantUnknown fails the test unless err says the outcome of storing the
// event is unknown, naming it, and the driver logged one such settling.
func (b *commitBundle) wantUnknown(t *testing.T, err error, eventID string) {
	t.Helper()
	msg := sluice.ErrorMessage(err)
	if sluice.ErrorCode(err) != sluice.EUNAVAILABLE || !strings.Contains(msg, "is unknown") || !strings.Contains(msg, eventID) {
		t.Fatalf("CreateEvent: %v, want unavailable: unknown, naming %s; log:\n%s", err, eventID, b.logs)
	}
	if got := b.outcomes("unknown"); got != 1 {
		t.Errorf("%d commits settled as unknown, want 1; log:\n%s", got, b.logs)
	}
}

// wantDuplicateOf fails the test unless a new event under the dedup key
// is answered as a duplicate of the event firstID, stored once.
func (b *commitBundle) wantDuplicateOf(t *testing.T, eventType, dedupKey, firstID string) {
	t.Helper()
	again, err := b.store.CreateEvent(context.Background(), b.newEvent(eventType, dedupKey), 0)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !again.Duplicate || again.Event.ID != firstID {
		t.Fatalf("retry got %s (duplicate %v), want %s as a duplicate", again.Event.ID, again.Duplicate, firstID)
	}
	if n := b.count(t, `SELECT count(*) FROM events WHERE type = $1`, eventType); n != 1 {
		t.Fatalf("%d events of type %s stored, want 1", n, eventType)
	}
}
