package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/testkit"
)

// holdCommitters has the bundle's driver hold its committers, each on an
// event of its own, until release is closed, and counts the events that
// then wait for one. It returns how many wait.
func holdCommitters(t *testing.T, b *commitBundle, release chan struct{}) *atomic.Int32 {
	t.Helper()
	var held, waiting atomic.Int32
	postgres.BreakCommits(b.driver, func(*pgconn.PgConn) {
		if held.Add(1) <= postgres.Committers {
			<-release
		}
	}, nil)
	postgres.OnEventWaiting(b.driver, func() { waiting.Add(1) })
	for range postgres.Committers {
		go func() { _, _ = b.store.CreateEvent(context.Background(), b.newEvent("held", ""), 0) }()
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return held.Load() == postgres.Committers },
		func() string { return "the committers did not take their events" })
	return &waiting
}

// Events that wait at once share transactions (group commit), and each is
// answered as if stored alone: inserted, with its delivery, and a repeated
// dedup key within the group answers as a duplicate of the first.
func TestGroupCommitSharesTransactions(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	release := make(chan struct{})
	waiting := holdCommitters(t, b, release)

	const n = 40
	ids := make([]string, n)
	created := make([]*sluice.EventCreated, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ne := b.newEvent("grouped", "")
		if i >= n-2 {
			ne.DedupKey = "twice"
		}
		ids[i] = ne.Event.ID
		wg.Go(func() { created[i], errs[i] = b.store.CreateEvent(ctx, ne, 0) })
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return waiting.Load() >= postgres.Committers+n },
		func() string { return "the events did not all wait" })
	close(release)
	wg.Wait()

	duplicates := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("event %d: %v", i, errs[i])
		}
		if created[i].Duplicate {
			duplicates++
		}
	}
	if duplicates != 1 {
		t.Errorf("%d of the two events with one dedup key answered as duplicates, want 1", duplicates)
	}
	stored := b.count(t, `SELECT count(*) FROM events WHERE id = ANY($1)`, ids)
	transactions := b.count(t, `SELECT count(DISTINCT xmin::text) FROM events WHERE id = ANY($1)`, ids)
	deliveries := b.count(t, `SELECT count(*) FROM deliveries WHERE event_id = ANY($1)`, ids)
	if stored != n-1 || deliveries != n-1 {
		t.Errorf("stored %d events with %d deliveries, want %d of each", stored, deliveries, n-1)
	}
	if transactions >= stored {
		t.Errorf("%d events stored in %d transactions: none shared one", stored, transactions)
	}
	t.Logf("%d events in %d transactions", stored, transactions)
}

// An event whose rows fail in a group (here, of a tenant that is not
// there) gets its own error, and every other event of the group is stored
// all the same.
func TestGroupCommitIsolatesAFailure(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	release := make(chan struct{})
	waiting := holdCommitters(t, b, release)

	const n = 12
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		tenantID := b.tenantID
		if i == n/2 {
			tenantID = sluice.NewID(sluice.PrefixTenant)
		}
		e := sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: "direct",
			Direction: sluice.Outbound, Status: sluice.EventUnrouted, PayloadState: sluice.PayloadNotStored,
			ReceivedAt: time.Now()}
		ids[i] = e.ID
		wg.Go(func() {
			_, errs[i] = b.driver.CreateEvent(ctx, tenantID, nil,
				func([]*engine.DestinationRow, []engine.SubjectKeyRow) (*engine.EventRows, error) {
					return &engine.EventRows{Event: e}, nil
				})
		})
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return waiting.Load() >= postgres.Committers+n },
		func() string { return "the events did not all wait" })
	close(release)
	wg.Wait()

	for i, err := range errs {
		switch {
		case i == n/2 && sluice.ErrorCode(err) != sluice.ENOTFOUND:
			t.Errorf("the event to no destination: %v, want ENOTFOUND", err)
		case i != n/2 && err != nil:
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got := b.count(t, `SELECT count(*) FROM events WHERE id = ANY($1)`, ids); got != n-1 {
		t.Errorf("stored %d events, want every one but the failed one, %d", got, n-1)
	}
	if errors.Is(errs[n/2], context.Canceled) {
		t.Error("the failed event was cancelled, not refused")
	}
}

// Closing stops the committers: an event given to a closed driver is
// refused, not left waiting, and closing again is no error.
func TestClosedDriverRefusesEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := postgres.Open(ctx, testkit.PostgresConfig(t, testkit.NewSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = d.CreateEvent(ctx, sluice.NewID(sluice.PrefixTenant), nil,
		func([]*engine.DestinationRow, []engine.SubjectKeyRow) (*engine.EventRows, error) {
			t.Error("a closed driver planned an event")
			return nil, errors.New("planned")
		})
	if err == nil {
		t.Error("a closed driver took an event")
	}
}
