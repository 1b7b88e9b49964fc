package deliver_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// countingStore is a real store that counts the claims asked of it.
type countingStore struct {
	deliver.Store
	claims atomic.Int32
}

func (s *countingStore) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	s.claims.Add(1)
	return s.Store.ClaimDue(ctx, r)
}

// A worker that finishes with nothing queued looks for work in the store
// only when some may be due there: deliveries created claimed, as the API
// creates them when the dispatcher has room, cost no claim as their
// workers finish. A claim that had to leave due work behind for want of
// room is followed by another as room comes free, not by the next poll.
func TestFreedWorkersClaimOnlyWhatMayBeDue(t *testing.T) {
	b := setup(t)
	recv := newReceiver(t, 200)
	b.destination(t, recv.URL)
	store := &countingStore{Store: b.store}
	// The poll is an hour away: only wakes claim.
	d := b.start(t, deliver.Config{Store: store, Workers: 4, PerDestination: 1, PollInterval: time.Hour})
	testkit.WaitFor(t, 10*time.Second, func() bool { return store.claims.Load() >= 1 },
		func() string { return "the dispatcher did not claim at its start" })

	// Deliveries created claimed, one after the other.
	before := store.claims.Load()
	for range 10 {
		e := b.publish(t, d, "created.claimed")
		b.waitDelivery(t, e.ID, sluice.DeliverySucceeded, 10*time.Second)
	}
	d.Wake()
	testkit.WaitFor(t, 10*time.Second, func() bool { return store.claims.Load() > before },
		func() string { return "the dispatcher did not claim when woken" })
	if got := store.claims.Load() - before; got != 1 {
		t.Errorf("%d claims for 10 deliveries created claimed and one wake, want the wake's alone", got)
	}

	// Deliveries due in the store, more than the destination has room for:
	// one in flight and four queued.
	var events []*sluice.Event
	for range 8 {
		events = append(events, b.event(t, "due", []byte(`{}`), "application/json"))
	}
	d.Wake()
	for _, e := range events {
		b.waitDelivery(t, e.ID, sluice.DeliverySucceeded, 10*time.Second)
	}
}
