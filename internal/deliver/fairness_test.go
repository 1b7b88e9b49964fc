package deliver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// hangingServer holds every request until the client gives up or the test
// ends, counting the requests it got and those it holds at once.
type hangingServer struct {
	*httptest.Server
	release  chan struct{}
	once     sync.Once
	mu       sync.Mutex
	requests int
	inFlight int
	ended    bool // a request has ended
	// firstPeak is the most requests held at once before any ended. Later
	// the count overstates the client's concurrency: the server sees a
	// request end only some time after the client gave up on it.
	firstPeak int
}

func newHangingServer(t *testing.T) *hangingServer {
	t.Helper()
	s := &hangingServer{release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read to the end, or the server watches the connection for the
		// client going away only once the test ends.
		_, _ = io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.requests++
		s.inFlight++
		if !s.ended {
			s.firstPeak = max(s.firstPeak, s.inFlight)
		}
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			s.ended = true
			s.mu.Unlock()
		}()
		select {
		case <-s.release:
			w.WriteHeader(http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)
	// Registered after Close, so it runs first: the dispatcher's Stop, also
	// a cleanup, then waits for no attempt.
	t.Cleanup(s.unblock)
	return s
}

// counts returns the requests received, those held now, and the most held
// at once before any ended.
func (s *hangingServer) counts() (requests, inFlight, firstPeak int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.inFlight, s.firstPeak
}

func (s *hangingServer) unblock() { s.once.Do(func() { close(s.release) }) }

// arrivalServer answers 200 at once and notes when each event (by its
// webhook-id) first arrived.
type arrivalServer struct {
	*httptest.Server
	mu      sync.Mutex
	arrived map[string]time.Time
	changed chan struct{} // closed, and replaced, at each arrival
}

func newArrivalServer(t *testing.T) *arrivalServer {
	t.Helper()
	s := &arrivalServer{arrived: make(map[string]time.Time), changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		s.mu.Lock()
		if id := r.Header.Get("webhook-id"); s.arrived[id].IsZero() {
			s.arrived[id] = now
			close(s.changed)
			s.changed = make(chan struct{})
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// waitArrival waits until the event has arrived, or until deadline, and
// returns when it first arrived and whether it has.
func (s *arrivalServer) waitArrival(eventID string, deadline time.Time) (time.Time, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		s.mu.Lock()
		at, ok := s.arrived[eventID]
		changed := s.changed
		s.mu.Unlock()
		if ok {
			return at, true
		}
		select {
		case <-changed:
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

// otherTenant returns a bundle on the same store for a new tenant.
func (b *testBundle) otherTenant(t *testing.T, name string) *testBundle {
	t.Helper()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: name}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := b.store.CreateTenant(b.ctx, ten, key); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	other := *b
	other.tenant = ten
	return &other
}

// publish stores an event as the API does: its deliveries are created
// claimed for d when d has room for them, and d is woken for the others.
func (b *testBundle) publish(t *testing.T, d *deliver.Dispatcher, eventType string) *sluice.Event {
	t.Helper()
	now := time.Now()
	ne := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: b.tenant.ID, Type: eventType,
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(`{}`), ContentType: "application/json", ExpiresAt: now.Add(time.Hour)},
	}
	var offer func([]*sluice.Claim)
	ne.Claim, offer = d.OfferRequest()
	created, err := b.store.CreateEvent(b.ctx, ne, 0)
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	if len(created.Claims) > 0 {
		offer(created.Claims)
	}
	if created.Unclaimed {
		d.Wake()
	}
	return created.Event
}

// fairnessStores runs the test on the embedded store and, when
// SLUICE_TEST_DATABASE_URL is set, on PostgreSQL.
func fairnessStores(t *testing.T, test func(t *testing.T, b *testBundle)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, setup(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		store := testkit.OpenStore(t, testkit.OpenPostgres(t, testkit.NewSchema(t)), testkit.StoreOptions{})
		test(t, setupOn(t, store))
	})
}

// One tenant's hanging destinations do not delay another tenant's
// deliveries: tenant A's eight destinations hold every request until the
// attempt times out, more than enough to occupy every worker, and tenant
// B's latency from publishing to receiving stays within twice its figure
// without that load (or 50 ms more, on a machine too busy for 2×). Without
// per-tenant fairness B's deliveries wait until A's circuit breakers open:
// about half a minute.
func TestHangingTenantDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	fairnessStores(t, testHangingTenantDoesNotDelayOthers)
}

func testHangingTenantDoesNotDelayOthers(t *testing.T, a *testBundle) {
	b := a.otherTenant(t, "b")
	hang := newHangingServer(t)
	for i := range 8 {
		a.destination(t, fmt.Sprintf("%s/a%d", hang.URL, i))
	}
	fast := newArrivalServer(t)
	b.destination(t, fast.URL)
	// Few workers, so A's eight destinations could take them all; every
	// retry due at once, so A's load stays up as its attempts time out.
	const workers, timeout = 4, 2 * time.Second
	d := a.start(t, deliver.Config{Workers: workers, PerDestination: 1, Timeout: timeout, Lease: 3 * timeout,
		RetrySchedule: slices.Repeat([]time.Duration{0}, 20)})

	// latencies publishes events of B one after the other, at least n and
	// then until done, and returns each one's time from publishing to
	// arriving, sorted. It waits for an event at most maxWait before
	// publishing the next, so that a starved B costs the test seconds, not
	// minutes; a late event's latency counts all the same once it arrives.
	latencies := func(n int, done func() bool, maxWait time.Duration) []time.Duration {
		t.Helper()
		var ids []string
		var published []time.Time
		for len(ids) < n || !done() {
			published = append(published, time.Now())
			ids = append(ids, b.publish(t, d, "b.thing").ID)
			fast.waitArrival(ids[len(ids)-1], time.Now().Add(maxWait))
		}
		out := make([]time.Duration, len(ids))
		within := 2*timeout + 5*time.Second
		deadline := time.Now().Add(within)
		for i, id := range ids {
			arrived, ok := fast.waitArrival(id, deadline)
			if !ok {
				t.Fatalf("B's event %d of %d did not arrive within %s of the last", i+1, len(ids), within)
			}
			out[i] = arrived.Sub(published[i])
		}
		slices.Sort(out)
		return out
	}
	always := func() bool { return true }

	const n = 9
	latencies(3, always, 5*time.Second) // warm up connections and statements
	unloaded := latencies(n, always, 5*time.Second)

	for range 4 {
		for range 8 {
			a.publish(t, d, "a.thing")
		}
	}
	// A is loaded once its receiver holds as many requests as the
	// dispatcher lets one tenant have (3 of the 4 workers by default).
	testkit.WaitFor(t, 5*time.Second, func() bool { _, held, _ := hang.counts(); return held >= workers-1 },
		func() string { _, held, _ := hang.counts(); return fmt.Sprintf("A's receiver holds %d requests", held) })
	// Measured until A's first attempts have timed out and A's receiver
	// holds new ones: through the failures' recording, the claims they
	// give back and A's claiming them again.
	firstWave, _, _ := hang.counts()
	deadline := time.Now().Add(3 * timeout)
	loaded := latencies(n, func() bool {
		if time.Now().After(deadline) {
			t.Fatalf("A's receiver got no request after its first %d within %s", firstWave, 3*timeout)
		}
		requests, _, _ := hang.counts()
		return requests > firstWave
	}, 500*time.Millisecond)

	_, _, peak := hang.counts()
	median := func(ds []time.Duration) time.Duration { return ds[len(ds)/2] }
	p90 := func(ds []time.Duration) time.Duration { return ds[(len(ds)*9+9)/10-1] }
	t.Logf("B's latency unloaded: median %v, p90 %v (%d events); with A hanging: median %v, p90 %v (%d events); "+
		"A's receiver held %d at once before any request ended", median(unloaded), p90(unloaded), len(unloaded),
		median(loaded), p90(loaded), len(loaded), peak)
	if limit := max(2*median(unloaded), median(unloaded)+50*time.Millisecond); median(loaded) > limit {
		t.Errorf("B's median latency with A hanging = %v, want at most %v (unloaded %v)",
			median(loaded), limit, median(unloaded))
	}
	if peak >= workers {
		t.Errorf("A's hanging destinations held %d workers at once, want fewer than all %d", peak, workers)
	}
}
