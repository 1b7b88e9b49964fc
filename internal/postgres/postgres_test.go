package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/storetest"
	"github.com/sluicehq/sluice/internal/testkit"
)

// mustOpen opens the engine over a driver on the schema, closed at
// cleanup (before the schema is dropped): one process's store.
func mustOpen(tb testing.TB, schema string, master *seal.Master, now func() time.Time) *engine.Store {
	tb.Helper()
	return testkit.OpenStore(tb, testkit.OpenPostgres(tb, schema), testkit.StoreOptions{Master: master, Now: now})
}

// open opens the engine over a driver on the schema, or returns the
// error; the caller closes it.
func open(tb testing.TB, schema string, master *seal.Master) (*engine.Store, error) {
	tb.Helper()
	d := testkit.OpenPostgres(tb, schema)
	s, err := engine.Open(context.Background(), engine.Config{Driver: d, Master: master})
	if err != nil {
		d.Close()
	}
	return s, err
}

func TestConformance(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.Run(t, openDriver)
}

// openDriver opens a driver on a new schema.
func openDriver(t *testing.T) engine.Driver { return testkit.OpenPostgres(t, testkit.NewSchema(t)) }

// carveConfig reads the files of the schema's tables, TOAST tables and
// indexes in the server's data directory: where the test database is local
// and its files readable, as on the machines CI uses.
var carveConfig = storetest.CarveConfig{
	PageSize: 8192,
	Files: func(t *testing.T, d engine.Driver) []string {
		files, err := postgres.RelationFiles(context.Background(), d.(*postgres.Driver))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(files[0]); err != nil {
			t.Skipf("the database's files are not readable here: %v", err)
		}
		return files
	},
	DeletedRowsRemain: true,
}

// execScript runs a script in a transaction.
func execScript(t *testing.T, d engine.Driver, script string) {
	if err := postgres.ExecScript(context.Background(), d.(*postgres.Driver), script); err != nil {
		t.Fatal(err)
	}
}

func TestCarve(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.Carve(t, openDriver, carveConfig)
}

func TestCarveRetiredKey(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.CarveRetiredKey(t, openDriver, carveConfig)
}

func TestLegacySubjects(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.LegacySubjects(t, openDriver, execScript)
}

func TestLegacyPaths(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	storetest.LegacyPaths(t, openDriver, execScript, carveConfig)
}

// tenantWithDestination creates a tenant with an enabled catch-all
// destination and returns the tenant's id.
func tenantWithDestination(t *testing.T, s sluice.Store) string {
	t.Helper()
	tenantID, _ := tenantWithDestinations(t, s, 1)
	return tenantID
}

// tenantWithDestinations creates a tenant with n enabled catch-all
// destinations and returns the ids of the tenant and the destinations.
func tenantWithDestinations(tb testing.TB, s sluice.Store, n int) (string, []string) {
	tb.Helper()
	ctx := context.Background()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "t"}
	if err := s.CreateTenant(ctx, ten, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}); err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: fmt.Sprint("d", i),
			URL: "https://a.example.com/x", EventTypes: []string{"*"},
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}
		if err := s.CreateDestination(ctx, d); err != nil {
			tb.Fatal(err)
		}
		ids[i] = d.ID
	}
	return ten.ID, ids
}

func publish(t *testing.T, s sluice.Store, tenantID string, now time.Time) {
	t.Helper()
	_, err := s.CreateEvent(context.Background(), &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: "x.y",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(`{}`), ContentType: "application/json", ExpiresAt: now.Add(time.Hour)},
	}, 0)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
}

// Two stores on one schema stand for two processes: claiming from both at
// once never hands out one delivery twice.
func TestConcurrentClaimsAcrossStores(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	master, clock := testkit.NewMaster(t), testkit.NewClock()
	stores := []*engine.Store{mustOpen(t, schema, master, clock.Now), mustOpen(t, schema, master, clock.Now)}
	tenantID := tenantWithDestination(t, stores[0])
	const events = 120
	for range events {
		publish(t, stores[0], tenantID, clock.Now())
	}

	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, 8)
	)
	for i := range 8 {
		s := stores[i%2]
		wg.Go(func() {
			for {
				claims, err := s.ClaimDue(context.Background(), sluice.ClaimRequest{Now: clock.Now(), Limit: 7, Lease: time.Minute})
				if err != nil {
					errs <- err
					return
				}
				if len(claims) == 0 {
					return
				}
				mu.Lock()
				for _, c := range claims {
					claimed[c.Delivery.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ClaimDue: %v", err)
	}
	if len(claimed) != events {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(claimed), events)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("delivery %s claimed %d times", id, n)
		}
	}
}

// A lease of one store is not ended by another store's ReleaseClaims: it
// may be an attempt in flight in another process.
func TestReleaseClaimsKeepsOtherLeases(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	master, clock := testkit.NewMaster(t), testkit.NewClock()
	a, b := mustOpen(t, schema, master, clock.Now), mustOpen(t, schema, master, clock.Now)
	tenantID := tenantWithDestination(t, a)
	publish(t, a, tenantID, clock.Now())
	claim := func(s *engine.Store) int {
		t.Helper()
		claims, err := s.ClaimDue(context.Background(), sluice.ClaimRequest{Now: clock.Now(), Limit: 10, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return len(claims)
	}
	if n := claim(a); n != 1 {
		t.Fatalf("claimed %d, want 1", n)
	}
	if err := b.ReleaseClaims(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := claim(b); n != 0 {
		t.Fatalf("after another store's ReleaseClaims claimed %d, want 0", n)
	}
	if err := a.ReleaseClaims(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := claim(b); n != 1 {
		t.Fatalf("after the holder's ReleaseClaims claimed %d, want 1", n)
	}
}

// waitWake waits for a wake-up, failing after a deadline.
func waitWake(t *testing.T, woken <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up %s within 10s", what)
	}
}

// An event stored through one store wakes a listener on another.
func TestListenWork(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	master, clock := testkit.NewMaster(t), testkit.NewClock()
	listener, writer := mustOpen(t, schema, master, clock.Now), mustOpen(t, schema, master, clock.Now)
	tenantID := tenantWithDestination(t, writer)

	ctx, cancel := context.WithCancel(context.Background())
	woken := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- listener.Listener().ListenWork(ctx, func() {
			select {
			case woken <- struct{}{}:
			default:
			}
		})
	}()
	waitWake(t, woken, "when listening starts")

	publish(t, writer, tenantID, clock.Now())
	waitWake(t, woken, "after CreateEvent in another store")

	// The listening connection drops: the listener reconnects, wakes once
	// for what it may have missed, and hears the next event again.
	admin, err := pgx.Connect(context.Background(), testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query = $1`, "LISTEN "+pgx.Identifier{"sluice_work_" + schema}.Sanitize()).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening connections (%v), want 1", killed, err)
	}
	waitWake(t, woken, "after reconnecting")
	publish(t, writer, tenantID, clock.Now())
	waitWake(t, woken, "after CreateEvent once reconnected")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ListenWork after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenWork did not return after its context ended")
	}
}

// While one store runs exclusive work, another's attempt does not run.
func TestTryExclusive(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	master := testkit.NewMaster(t)
	a, b := mustOpen(t, schema, master, nil), mustOpen(t, schema, master, nil)
	ctx := context.Background()

	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ran, err := a.Exclusive().TryExclusive(ctx, "purge", func(context.Context) error {
			close(started)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = errors.New("the first TryExclusive did not run")
		}
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the first TryExclusive ended before its work started: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the first TryExclusive did not start")
	}
	ran, err := b.Exclusive().TryExclusive(ctx, "purge", func(context.Context) error {
		t.Error("ran while another holder runs")
		return nil
	})
	if err != nil || ran {
		t.Fatalf("TryExclusive while held = %v, %v; want false, nil", ran, err)
	}
	if ran, err := b.Exclusive().TryExclusive(ctx, "other-work", func(context.Context) error { return nil }); err != nil || !ran {
		t.Fatalf("TryExclusive of other work = %v, %v; want true", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantErr := errors.New("work failed")
	ran, err = b.Exclusive().TryExclusive(ctx, "purge", func(context.Context) error { return wantErr })
	if !ran || !errors.Is(err, wantErr) {
		t.Fatalf("TryExclusive after release = %v, %v; want true and fn's error", ran, err)
	}
	if ran, err := a.Exclusive().TryExclusive(ctx, "purge", func(context.Context) error { return nil }); err != nil || !ran {
		t.Fatalf("TryExclusive after a failed run = %v, %v; want the lock released", ran, err)
	}
}

// Processes starting together on an empty database all migrate it
// without error.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	master := testkit.NewMaster(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	stores := make([]*engine.Store, 3)
	for i := range 3 {
		wg.Go(func() {
			stores[i], errs[i] = open(t, schema, master)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	tenantID := tenantWithDestination(t, stores[1])
	publish(t, stores[2], tenantID, time.Now())
}

// A master key other than the one the data keys are wrapped with is
// refused; RewrapKeys moves them to a new one, recorded in every tenant's
// audit trail.
func TestMasterKey(t *testing.T) {
	t.Parallel()
	schema := testkit.NewSchema(t)
	ctx := context.Background()
	oldKey, newKey := testkit.NewMaster(t), testkit.NewMaster(t)
	s, err := open(t, schema, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	tenantID := tenantWithDestination(t, s)
	ds, _, err := s.Destinations(ctx, tenantID, sluice.Page{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Destinations = %v, %v", ds, err)
	}
	if _, err := open(t, schema, newKey); !errors.Is(err, seal.ErrWrongMaster) {
		t.Fatalf("Open with another key: %v, want ErrWrongMaster", err)
	}
	if n, err := s.RewrapKeys(ctx, newKey); err != nil || n != 1 {
		t.Fatalf("RewrapKeys = %d, %v; want 1 data key", n, err)
	}
	// A process still on the retired key creates no tenant under it.
	err = s.CreateTenant(ctx, &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant)},
		&sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Role: sluice.RoleAdmin, TokenHash: sluice.HashToken("x")})
	if !errors.Is(err, seal.ErrWrongMaster) {
		t.Fatalf("CreateTenant on the retired key: %v, want ErrWrongMaster", err)
	}
	s.Close()

	if _, err := open(t, schema, oldKey); !errors.Is(err, seal.ErrWrongMaster) {
		t.Fatalf("Open with the retired key: %v, want ErrWrongMaster", err)
	}
	s = mustOpen(t, schema, newKey, nil)
	got, err := s.Destination(ctx, tenantID, ds[0].ID)
	if err != nil || got.URL != ds[0].URL || got.Secret != ds[0].Secret {
		t.Fatalf("destination after rotation: URL or secret differ (%v)", err)
	}
	entries, _, err := s.AuditLog(ctx, tenantID, sluice.Page{})
	if err != nil || len(entries) == 0 || entries[0].Action != "master_key.rotate" || entries[0].ResourceID != newKey.Fingerprint() {
		t.Fatalf("newest audit entry after rotation: %+v, %v", entries, err)
	}
}

// A publish's rows go in one pipelined transaction with its COMMIT. When a
// statement fails, nothing of the event is written, and the pool's one
// connection is left out of the failed transaction for the next publish.
func TestCreateEventFailureWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testkit.NewClock()
	cfg := testkit.PostgresConfig(t, testkit.NewSchema(t))
	cfg.URL = strings.Replace(cfg.URL, "pool_max_conns=4", "pool_max_conns=1", 1)
	d, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.OpenStore(t, d, testkit.StoreOptions{Now: clock.Now})
	tenantID := tenantWithDestination(t, s)
	newEvent := func(id string, body string) *sluice.NewEvent {
		return &sluice.NewEvent{
			Event: sluice.Event{ID: id, TenantID: tenantID, Type: "x.y", Direction: sluice.Outbound, ReceivedAt: clock.Now()},
			Payload: sluice.Payload{Body: []byte(body), ContentType: "application/json",
				ExpiresAt: clock.Now().Add(time.Hour)},
		}
	}
	id := sluice.NewID(sluice.PrefixEvent)
	if _, err := s.CreateEvent(ctx, newEvent(id, `{"n":1}`), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateEvent(ctx, newEvent(id, `{"n":2}`), 0); err == nil {
		t.Fatal("CreateEvent of a taken event id succeeded")
	}
	p, err := s.Payload(ctx, tenantID, id)
	if err != nil || string(p.Body) != `{"n":1}` {
		t.Fatalf("payload after the failed publish = %q, %v; want the first", p.Body, err)
	}
	deliveries, err := s.Deliveries(ctx, tenantID, id)
	if err != nil || len(deliveries) != 1 {
		t.Fatalf("deliveries of the event = %d, %v; want the first publish's one", len(deliveries), err)
	}
	next := sluice.NewID(sluice.PrefixEvent)
	if _, err := s.CreateEvent(ctx, newEvent(next, `{"n":3}`), 0); err != nil {
		t.Fatalf("CreateEvent after a failed one: %v", err)
	}
	if e, err := s.Event(ctx, tenantID, next); err != nil || e.Status != sluice.EventPending {
		t.Fatalf("event after a failed one = %+v, %v; want pending", e, err)
	}
}

// TemporarySchema, which `sluice bench --database` uses, takes the URL Open
// takes, the pool's parameters included: the URL it returns opens pools
// of that size whose connections work in the new schema, and drop removes
// the schema.
func TestTemporarySchemaTakesPoolParameters(t *testing.T) {
	base := testkit.DatabaseURL(t)
	ctx := context.Background()
	name := testkit.NewSchema(t) // dropped at cleanup too, should drop fail
	url, drop, err := postgres.TemporarySchema(ctx, testkit.PostgresConfig(t, name).URL, name)
	if err != nil {
		t.Fatalf("TemporarySchema: %v", err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("open a pool on the returned URL: %v", err)
	}
	var searchPath string
	err = pool.QueryRow(ctx, `SHOW search_path`).Scan(&searchPath)
	maxConns := pool.Config().MaxConns
	pool.Close()
	if err != nil || searchPath != name || maxConns != 4 {
		t.Fatalf("search_path %q (%v), pool size %d; want %q and 4", searchPath, err, maxConns, name)
	}
	schemaCount := func() int {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := schemaCount(); n != 1 {
		t.Fatalf("%d schemas named %s after TemporarySchema, want 1", n, name)
	}
	drop()
	if n := schemaCount(); n != 0 {
		t.Fatalf("%d schemas named %s after drop, want 0", n, name)
	}
}

// A transaction that began before an erasure may still read the subject's
// key: while one runs, the key's partition is not rewritten (it would be
// copied along) and the scrub stays pending; once it ends, the next scrub
// rewrites it.
func TestScrubWaitsForOlderTransactions(t *testing.T) {
	ctx := context.Background()
	schema := testkit.NewSchema(t)
	t.Parallel()
	s := mustOpen(t, schema, testkit.NewMaster(t), nil)
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "a"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := s.CreateTenant(ctx, ten, key); err != nil {
		t.Fatal(err)
	}
	ada := sluice.Subject{Type: "email", Value: "ada@example.com"}
	in := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: ten.ID, Type: "a.b",
			Direction: sluice.Outbound, ReceivedAt: time.Now()},
		Payload:  sluice.Payload{Body: []byte(`{}`), ContentType: "application/json", ExpiresAt: time.Now().Add(time.Hour)},
		Subjects: []sluice.Subject{ada},
	}
	if _, err := s.CreateEvent(ctx, in, 0); err != nil {
		t.Fatal(err)
	}

	// A reader whose snapshot predates the erasure, as a pg_dump's would.
	conn, err := pgx.Connect(ctx, testkit.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	older, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := older.Exec(ctx, `SELECT 1`); err != nil { // takes the snapshot
		t.Fatal(err)
	}
	if _, err := s.EraseSubject(ctx, ten.ID, ada); err != nil {
		t.Fatal(err)
	}
	if err := s.Scrub(ctx); err != nil || s.Scrubbed() {
		t.Fatalf("Scrub with an older transaction running = %v, scrubbed %v; want it pending", err, s.Scrubbed())
	}
	if err := older.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Other tests' transactions may hold the horizon back a little longer.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		if err := s.Scrub(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Scrubbed()
	}, func() string { return "waiting for the scrub after the older transaction ended" })
}
