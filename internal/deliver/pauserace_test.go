package deliver_test

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// gatedStore is a real store with two gates a test opens when it chooses:
// the first failed attempt's recording waits at the failure gate before it
// reaches the store, and, once armed, the next claim that takes something
// waits at the claim gate after the store has made it.
type gatedStore struct {
	deliver.Store

	failureHeld, failureGo chan struct{}
	failureOnce            sync.Once

	claimArmed         atomic.Bool
	claimHeld, claimGo chan struct{}
	claimOnce          sync.Once
}

func newGatedStore(s deliver.Store) *gatedStore {
	return &gatedStore{Store: s,
		failureHeld: make(chan struct{}), failureGo: make(chan struct{}),
		claimHeld: make(chan struct{}), claimGo: make(chan struct{})}
}

func (s *gatedStore) RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []sluice.AttemptRecorded {
	for _, r := range rs {
		if r.Attempt.Outcome == sluice.AttemptFailed {
			s.failureOnce.Do(func() {
				close(s.failureHeld)
				<-s.failureGo
			})
		}
	}
	return s.Store.RecordAttempts(ctx, rs)
}

func (s *gatedStore) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	claims, err := s.Store.ClaimDue(ctx, r)
	if len(claims) > 0 && s.claimArmed.Load() {
		s.claimOnce.Do(func() {
			close(s.claimHeld)
			<-s.claimGo
		})
	}
	return claims, err
}

// pauseRace is a destination whose first attempt failed, with that
// failure's recording, which pauses the destination for an hour of the
// dispatcher's clock, held at the store's gate.
type pauseRace struct {
	*testBundle
	gate  *gatedStore // the bundle's store, gated
	recv  *receiver
	dest  *sluice.Destination
	clock *testkit.Clock
	d     *deliver.Dispatcher
	// offer takes what the store claimed under request, a claim request
	// made before the failure.
	request *sluice.ClaimRequest
	offer   func([]*sluice.Claim)
}

func newPauseRace(t *testing.T) *pauseRace {
	t.Helper()
	b := setupWith(t, testkit.StoreOptions{Health: engine.Health{OpenAfter: 1, Pause: time.Hour, MaxPause: time.Hour}})
	p := &pauseRace{testBundle: b, gate: newGatedStore(b.store),
		recv: newReceiver(t, http.StatusInternalServerError, http.StatusOK)}
	p.dest = b.destination(t, p.recv.URL)
	// Ahead of the events' creation times, so they are due on this clock.
	p.clock = testkit.ClockAt(time.Now().Add(time.Minute))
	p.d = b.start(t, deliver.Config{Store: p.gate, Now: p.clock.Now, PerDestination: 2,
		RetrySchedule: []time.Duration{0, time.Hour}})
	p.request, p.offer = p.d.OfferRequest()
	if p.request == nil {
		t.Fatal("an idle dispatcher has no room to offer")
	}
	b.event(t, "x.y", []byte(`{}`), "")
	p.d.Wake()
	<-p.gate.failureHeld
	return p
}

// recordFailure lets the held failure be recorded and waits until the
// destination is paused.
func (p *pauseRace) recordFailure(t *testing.T) {
	t.Helper()
	close(p.gate.failureGo)
	testkit.WaitFor(t, 5*time.Second, func() bool { return p.reload(t, p.dest).State() == sluice.StatePaused },
		func() string { return "the failure did not pause the destination" })
}

// inFlight counts the deliveries claimed, in a worker or a queue.
func (p *pauseRace) inFlight(t *testing.T) int {
	t.Helper()
	qs, err := p.store.QueueStats(p.ctx, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return qs.InFlight
}

// sentAfterPause checks that the event's delivery was not attempted during
// the pause, and is delivered once it ends.
func (p *pauseRace) sentAfterPause(t *testing.T, eventID string) {
	t.Helper()
	if got := p.attempts(t, eventID); len(got) != 0 {
		t.Fatalf("the delivery was attempted during the pause (%d attempts)", len(got))
	}
	if n := len(p.recv.received()); n != 1 {
		t.Fatalf("the receiver got %d requests during the pause, want 1 (the failure)", n)
	}
	pausedUntil := p.reload(t, p.dest).PausedUntil
	p.clock.Advance(3 * time.Hour) // past the pause and the first failure's retry
	p.d.Wake()
	p.waitDelivery(t, eventID, sluice.DeliverySucceeded, 5*time.Second)
	if got := p.attempts(t, eventID); len(got) != 1 || got[0].At.Before(pausedUntil) {
		t.Fatalf("attempts after the pause = %+v; want one, after %s", got, pausedUntil)
	}
}

// A publish's deliveries can be created claimed under a request made before
// a failure paused their destination, and offered after that failure's
// recording gave the destination's queue back. They go back to the store
// too, and wait out the pause.
func TestOfferedClaimsWaitOutAPauseRecordedMeanwhile(t *testing.T) {
	t.Parallel()
	p := newPauseRace(t)
	now := p.clock.Now()
	ne := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: p.tenant.ID, Type: "x.y",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(`{}`), ExpiresAt: now.Add(30 * 24 * time.Hour)},
		Claim:   p.request,
	}
	created, err := p.store.CreateEvent(p.ctx, ne, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Claims) != 1 {
		t.Fatalf("the store created %d deliveries claimed, want 1: the destination is not yet paused", len(created.Claims))
	}
	p.recordFailure(t)

	p.offer(created.Claims)
	if n := p.inFlight(t); n != 0 {
		t.Fatalf("after the offer, %d deliveries are claimed; want the offered one given back", n)
	}
	p.sentAfterPause(t, ne.Event.ID)
}

// The same for the claim loop: a claim the store made before a failure
// paused the destination, placed after the failure's recording gave the
// destination's queue back, goes back to the store.
func TestClaimedDeliveriesWaitOutAPauseRecordedMeanwhile(t *testing.T) {
	t.Parallel()
	p := newPauseRace(t)
	p.gate.claimArmed.Store(true)
	ev := p.event(t, "x.y", []byte(`{}`), "")
	p.d.Wake()
	<-p.gate.claimHeld
	p.recordFailure(t)

	close(p.gate.claimGo)
	testkit.WaitFor(t, 5*time.Second, func() bool { return p.inFlight(t) == 0 },
		func() string { return "the claim was not given back" })
	p.sentAfterPause(t, ev.ID)
}
