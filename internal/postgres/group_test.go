package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	payloads := b.count(t, `SELECT count(*) FROM event_payloads WHERE event_id = ANY($1)`, ids)
	if stored != n-1 || deliveries != n-1 || payloads != n-1 {
		t.Errorf("stored %d events with %d deliveries and %d payloads, want %d of each", stored, deliveries, payloads, n-1)
	}
	// The committers take every event waiting, up to a group each: a group
	// that failed and ran its events alone would show as many more.
	if most := (n+postgres.MaxEventGroup-1)/postgres.MaxEventGroup + 1; transactions > most {
		t.Errorf("%d events stored in %d transactions, want at most %d", stored, transactions, most)
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

// A group writes every row each of its events would write alone, in its
// one statement for events, payloads and deliveries and its statements
// for the rarer rows: events of two tenants, each routed to its own
// tenant's destinations (each tenant's routes read once for the group),
// with and without a stored payload, with a new subject key and its link,
// with observations new and seen before, and with no delivery at all.
func TestGroupCommitWritesEveryRow(t *testing.T) {
	t.Parallel()
	b := setupCommit(t, nil)
	ctx := context.Background()
	other, otherDests := tenantWithDestinations(t, b.store, 2)
	seen := sluice.Observation{EventType: "grouped", Kind: sluice.ObservedType} // the second tenant's
	first := sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: other, Type: "grouped",
		Direction: sluice.Outbound, Status: sluice.EventUnrouted, PayloadState: sluice.PayloadNotStored, ReceivedAt: time.Now()}
	if _, err := b.driver.CreateEvent(ctx, other, nil, func([]*engine.DestinationRow, []engine.SubjectKeyRow) (*engine.EventRows, error) {
		return &engine.EventRows{Event: first, Observations: []sluice.Observation{seen}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	waiting := holdCommitters(t, b, release)

	type want struct {
		payload, subject bool
		deliveries       int
		newObservations  []bool
	}
	var (
		wants  []want
		ids    []string
		routed = map[string][]string{} // tenant → the destinations its events were routed to
		wg     sync.WaitGroup
		mu     sync.Mutex
		got    = map[string]*engine.EventInserted{}
		errs   []error
	)
	for i := range 12 {
		tenantID := b.tenantID
		if i%2 == 1 {
			tenantID = other
		}
		e := sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: "grouped",
			Direction: sluice.Outbound, Status: sluice.EventPending, PayloadState: sluice.PayloadRetained,
			ReceivedAt: time.Now()}
		w := want{payload: i%3 != 0, subject: i == 4, deliveries: 1}
		if i == 7 {
			e.Status, w.deliveries = sluice.EventUnrouted, 0
		}
		obs := []sluice.Observation{{EventType: "grouped", Kind: sluice.ObservedField, Name: fmt.Sprint("f", i)}}
		w.newObservations = []bool{true}
		if i%4 == 1 {
			obs = append(obs, seen) // stored before the group
			w.newObservations = append(w.newObservations, false)
		}
		ids, wants = append(ids, e.ID), append(wants, w)
		wg.Go(func() {
			out, err := b.driver.CreateEvent(ctx, tenantID, nil,
				func(routes []*engine.DestinationRow, _ []engine.SubjectKeyRow) (*engine.EventRows, error) {
					rows := &engine.EventRows{Event: e, Observations: obs}
					if w.payload {
						rows.Body, rows.ContentType, rows.ExpiresAt = []byte(`{"n":1}`), "application/json", time.Now().Add(time.Hour)
					}
					if w.subject {
						hash := []byte("subject-" + e.ID)
						rows.NewSubjectKeys = []engine.SubjectKeyRow{{Hash: hash, ID: 1, SealedKey: []byte("sealed")}}
						rows.Subjects = []engine.SubjectLink{{Hash: hash, KeyID: 1, Share: []byte("share")}}
					}
					for _, d := range routes[:w.deliveries] {
						rows.Deliveries = append(rows.Deliveries, &engine.DeliveryRow{Delivery: sluice.Delivery{
							ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenantID, EventID: e.ID, DestinationID: d.ID,
							Status: sluice.DeliveryPending, NextAttemptAt: e.ReceivedAt, CreatedAt: e.ReceivedAt}})
						mu.Lock()
						routed[tenantID] = append(routed[tenantID], d.ID)
						mu.Unlock()
					}
					return rows, nil
				})
			mu.Lock()
			defer mu.Unlock()
			got[e.ID] = out
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return waiting.Load() >= postgres.Committers+12 },
		func() string { return "the events did not all wait" })
	close(release)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("events failed: %v", errs)
	}

	for i, id := range ids {
		w, out := wants[i], got[id]
		if !out.Inserted || !slices.Equal(out.NewObservations, w.newObservations) {
			t.Errorf("event %d: inserted %v, new observations %v; want inserted, %v", i, out.Inserted,
				out.NewObservations, w.newObservations)
		}
		payloads := b.count(t, `SELECT count(*) FROM event_payloads WHERE event_id = $1`, id)
		links := b.count(t, `SELECT count(*) FROM subject_index WHERE event_id = $1`, id)
		deliveries := b.count(t, `SELECT count(*) FROM deliveries WHERE event_id = $1 AND status = 'pending'`, id)
		if (payloads == 1) != w.payload || (links == 1) != w.subject || deliveries != w.deliveries {
			t.Errorf("event %d: %d payloads, %d subject links, %d deliveries; want payload %v, subject %v, %d deliveries",
				i, payloads, links, deliveries, w.payload, w.subject, w.deliveries)
		}
	}
	for tenantID, dests := range routed {
		for _, d := range dests {
			if n := b.count(t, `SELECT count(*) FROM destinations WHERE id = $1 AND tenant_id = $2`, d, tenantID); n != 1 {
				t.Errorf("an event of tenant %s was routed to %s, not one of its destinations", tenantID, d)
			}
		}
	}
	if len(routed[other]) == 0 || len(otherDests) != 2 {
		t.Errorf("the second tenant's events were routed to %v", routed[other])
	}
	if n := b.count(t, `SELECT count(*) FROM observations WHERE event_type = 'grouped'`); n != 13 {
		t.Errorf("%d observations stored, want 13 (a field of each event and the type)", n)
	}
	if n := b.count(t, `SELECT count(DISTINCT xmin::text) FROM events WHERE id = ANY($1)`, ids); n >= len(ids) {
		t.Errorf("the events waiting together were stored in %d transactions: none shared one", n)
	}
}
