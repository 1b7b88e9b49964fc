package storetest

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// An event's status is sluice.EventStatusOf its deliveries' statuses at
// every step, whatever moved them: attempts recorded, a destination
// deleted, deliveries expired.
func testEventStatusFollowsDeliveries(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	var dests []*sluice.Destination
	for range 4 {
		dests = append(dests, b.destination(t, ctx, ten.ID, "*"))
	}
	e := b.event(t, ctx, ten.ID, "x.y")
	check := func(step string, want sluice.EventStatus) {
		t.Helper()
		ds, err := b.store.Deliveries(b.ctx, ten.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		statuses := make([]sluice.DeliveryStatus, len(ds))
		for i, d := range ds {
			statuses[i] = d.Status
		}
		got, err := b.store.Event(b.ctx, ten.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rule := sluice.EventStatusOf(statuses); got.Status != rule || rule != want {
			t.Fatalf("%s: event %s with deliveries %v, want %s (EventStatusOf says %s)", step, got.Status, statuses, want, rule)
		}
	}
	check("created", sluice.EventPending)
	byDest := map[string]*sluice.Claim{}
	for _, c := range b.claim(t, 10) {
		byDest[c.Delivery.DestinationID] = c
	}
	record := func(d *sluice.Destination, outcome sluice.AttemptOutcome, status sluice.DeliveryStatus) {
		t.Helper()
		c := byDest[d.ID]
		if err := b.record(&sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt),
			TenantID: ten.ID, DeliveryID: c.Delivery.ID, EventID: e.ID, DestinationID: d.ID, Number: 1,
			Outcome: outcome, At: b.clock.Now()}, EventType: c.EventType, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	record(dests[0], sluice.AttemptSucceeded, sluice.DeliverySucceeded)
	check("one succeeded", sluice.EventPending)
	if err := b.store.DeleteDestination(ctx, ten.ID, dests[1].ID); err != nil {
		t.Fatal(err)
	}
	check("one cancelled", sluice.EventPending)
	err := b.driver.WithTx(b.ctx, func(ctx context.Context, tx engine.Tx) error {
		ids, err := tx.ExpireDeliveries(ctx, []string{byDest[dests[2].ID].Delivery.ID}, b.clock.Now())
		if err != nil {
			return err
		}
		return tx.RefreshEventStatus(ctx, ids)
	})
	if err != nil {
		t.Fatal(err)
	}
	check("one expired", sluice.EventPending)
	record(dests[3], sluice.AttemptFailed, sluice.DeliveryExhausted)
	check("one exhausted, none pending", sluice.EventFailed)
}
