package deliver_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// blockingServer answers 200 only once release is closed (or the client
// gives up), counting the requests it holds at once.
type blockingServer struct {
	*httptest.Server
	release  chan struct{}
	once     sync.Once
	started  chan struct{} // receives one value per request
	inFlight atomic.Int32
	mu       sync.Mutex
	peak     int32
}

// unblock lets every held and future request through. Tests defer it, so it
// runs before the cleanups that stop the dispatcher and close the server.
func (s *blockingServer) unblock() { s.once.Do(func() { close(s.release) }) }

// waitStarted waits for n requests to arrive.
func (s *blockingServer) waitStarted(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-s.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d requests arrived within 5s", i, n)
		}
	}
}

func newBlockingServer(t *testing.T) *blockingServer {
	t.Helper()
	s := &blockingServer{release: make(chan struct{}), started: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		s.mu.Lock()
		s.peak = max(s.peak, n)
		s.mu.Unlock()
		s.started <- struct{}{}
		select {
		case <-s.release:
			w.WriteHeader(http.StatusOK)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *blockingServer) peakInFlight() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// A destination that hangs holds at most PerDestination workers; a fast
// destination's events, stored after the slow one's, still go out at once.
func TestSlowDestinationDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	slow := newBlockingServer(t)
	defer slow.unblock()
	fast := newReceiver(t, 200)
	b.destination(t, slow.URL, "slow.*")
	b.destination(t, fast.URL, "fast.*")
	var slowEvents, fastEvents []*sluice.Event
	for i := range 8 {
		slowEvents = append(slowEvents, b.event(t, "slow.thing", fmt.Appendf(nil, `{"n":%d}`, i), ""))
	}
	for i := range 8 {
		fastEvents = append(fastEvents, b.event(t, "fast.thing", fmt.Appendf(nil, `{"n":%d}`, i), ""))
	}
	// The timeout is far longer than the test waits: only the per-destination
	// bound can let the fast events through.
	b.start(t, deliver.Config{Workers: 4, PerDestination: 2, Timeout: time.Minute, Lease: 2 * time.Minute})

	for _, ev := range fastEvents {
		b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 3*time.Second)
	}
	if n := len(fast.received()); n != 8 {
		t.Errorf("fast receiver got %d requests, want 8", n)
	}
	if got := slow.inFlight.Load(); got != 2 {
		t.Errorf("slow receiver holds %d requests, want 2 (PerDestination)", got)
	}
	if peak := slow.peakInFlight(); peak > 2 {
		t.Errorf("slow receiver held %d requests at once, want at most 2", peak)
	}
	for _, ev := range slowEvents[2:] {
		if as := b.attempts(t, ev.ID); len(as) > 0 {
			t.Errorf("slow event %s has %d attempts while the destination is busy", ev.ID, len(as))
		}
	}
}

// No destination ever gets more than PerDestination attempts at once, even
// when one claim could take more of its deliveries.
func TestPerDestinationBound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := newBlockingServer(t)
	defer srv.unblock()
	b.destination(t, srv.URL)
	var events []*sluice.Event
	for range 12 {
		events = append(events, b.event(t, "x.y", []byte(`{}`), ""))
	}
	b.start(t, deliver.Config{Workers: 8, PerDestination: 3})

	srv.waitStarted(t, 3)
	srv.unblock()
	for _, ev := range events {
		b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	}
	if peak := srv.peakInFlight(); peak != 3 {
		t.Errorf("receiver held %d requests at once, want 3", peak)
	}
}

// Stop waits for the attempt in flight, which is recorded before Stop
// returns; nothing new is claimed after Stop.
func TestStopDrainsInFlightAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := newBlockingServer(t)
	defer srv.unblock()
	b.destination(t, srv.URL)
	ev := b.event(t, "x.y", []byte(`{}`), "")
	d := b.start(t, deliver.Config{Timeout: 10 * time.Second, Lease: 20 * time.Second})
	srv.waitStarted(t, 1)

	stopped := make(chan struct{})
	go func() {
		d.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while an attempt was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	srv.unblock()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return after the attempt finished")
	}
	assertAttempts(t, b.attempts(t, ev.ID), sluice.Attempt{Outcome: sluice.AttemptSucceeded, HTTPStatus: 200})

	later := b.event(t, "x.y", []byte(`{}`), "")
	d.Wake()
	d.Stop() // a second Stop is harmless
	if as := b.attempts(t, later.ID); len(as) != 0 {
		t.Errorf("an event stored after Stop got %d attempts", len(as))
	}
}

// A destination with some attempts in flight still gets the room it has left
// when the free workers outnumber that room.
func TestPartlyBusyDestinationTopsUp(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := newBlockingServer(t)
	defer srv.unblock()
	b.destination(t, srv.URL)
	for range 3 {
		b.event(t, "x.y", []byte(`{}`), "")
	}
	d := b.start(t, deliver.Config{Workers: 8, PerDestination: 4, PollInterval: time.Hour, Timeout: time.Minute, Lease: 2 * time.Minute})
	srv.waitStarted(t, 3)

	// 5 free workers, but room for only 1 more at this destination.
	b.event(t, "x.y", []byte(`{}`), "")
	b.event(t, "x.y", []byte(`{}`), "")
	d.Wake()
	srv.waitStarted(t, 1)
	srv.unblock()
	srv.waitStarted(t, 1) // the fifth goes once the others finish
	if peak := srv.peakInFlight(); peak != 4 {
		t.Errorf("receiver held %d requests at once, want 4", peak)
	}
}

// An attempt whose delivery was taken by another worker after the lease
// ended is dropped: the other worker's attempt is the one that counts.
func TestAttemptAfterLostLeaseIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := newBlockingServer(t)
	defer srv.unblock()
	b.destination(t, srv.URL)
	ev := b.event(t, "x.y", []byte(`{}`), "")
	const lease = 20 * time.Second
	b.start(t, deliver.Config{Timeout: 10 * time.Second, Lease: lease})
	srv.waitStarted(t, 1)

	// Another worker, after the lease, claims the delivery and records its
	// own first attempt.
	claims, err := b.store.ClaimDue(b.ctx, sluice.ClaimRequest{Now: time.Now().Add(lease + time.Second), Limit: 10, Lease: lease})
	if err != nil || len(claims) != 1 || claims[0].Delivery.EventID != ev.ID {
		t.Fatalf("ClaimDue after the lease = %d claims, %v; want the delivery", len(claims), err)
	}
	c := claims[0]
	theirs := &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: ev.ID, DestinationID: c.Delivery.DestinationID, Number: 1,
			Outcome: sluice.AttemptFailed, HTTPStatus: 500, Error: "http_status", At: time.Now()},
		EventType: c.EventType, Status: sluice.DeliveryPending, NextAttemptAt: time.Now().Add(time.Hour),
	}
	if err := b.store.RecordAttempts(b.ctx, []*sluice.AttemptResult{theirs})[0].Err; err != nil {
		t.Fatalf("RecordAttempts: %v", err)
	}
	srv.unblock()

	testkit.WaitFor(t, 5*time.Second, func() bool { return strings.Contains(b.logs.String(), "attempt dropped") },
		func() string { return "the dispatcher did not drop its attempt:\n" + b.logs.String() })
	as := b.attempts(t, ev.ID)
	if len(as) != 1 || as[0].ID != theirs.Attempt.ID {
		t.Errorf("recorded %d attempts, want only the other worker's", len(as))
	}
}

func TestStartAndStopEdges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d, err := deliver.New(deliver.Config{Store: b.store, RetrySchedule: []time.Duration{0}})
	if err != nil {
		t.Fatal(err)
	}
	d.Stop() // before Start: returns at once
	if err := d.Start(b.ctx); err == nil {
		t.Error("Start after Stop succeeded")
	}
	d, err = deliver.New(deliver.Config{Store: b.store, RetrySchedule: []time.Duration{0}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(b.ctx); err == nil {
		t.Error("a second Start succeeded")
	}
	d.Stop()
	d.Stop()
}
