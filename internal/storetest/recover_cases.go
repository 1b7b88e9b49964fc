package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// recordExhausted records a failed last attempt of the claim.
func recordExhausted(t *testing.T, b *bundle, c *sluice.Claim) {
	t.Helper()
	err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500, Error: "http_status",
			Duration: time.Millisecond, At: b.clock.Now()},
		Status: sluice.DeliveryExhausted, Storage: c.Storage})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
}

// Recover makes new deliveries for exactly the destination's exhausted
// deliveries in the window whose payloads are retained.
func testRecover(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	dest := b.destination(t, ctx, ten.ID, "*")
	start := b.clock.Now()
	failed := b.event(t, ctx, ten.ID, "a.failed")
	erased := b.event(t, ctx, ten.ID, "a.erased")
	ok := b.event(t, ctx, ten.ID, "a.ok")
	claims := b.claim(t, 10)
	if len(claims) != 3 {
		t.Fatalf("claimed %d deliveries, want 3", len(claims))
	}
	for _, c := range claims {
		if c.Delivery.EventID == ok.ID {
			recordSuccess(t, b, c)
		} else {
			recordExhausted(t, b, c)
		}
	}
	if err := b.store.ErasePayload(ctx, ten.ID, erased.ID); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(30 * time.Minute) // payloads live an hour
	late := b.event(t, ctx, ten.ID, "a.late")
	for _, c := range b.claim(t, 10) {
		recordExhausted(t, b, c)
	}

	n, err := b.store.Recover(ctx, ten.ID, dest.ID, start, start.Add(time.Minute), 0)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the 1 failed delivery in the window with its payload", n, err)
	}
	if got := deliveryStatuses(t, b, ten.ID, failed.ID); len(got) != 2 || got[0] != sluice.DeliveryExhausted || got[1] != sluice.DeliveryPending {
		t.Errorf("deliveries of the recovered event: %v, want the exhausted one and a new pending one", got)
	}
	if e, _ := b.store.Event(b.ctx, ten.ID, failed.ID); e.Status != sluice.EventPending {
		t.Errorf("recovered event status %q, want pending", e.Status)
	}
	for _, id := range []string{erased.ID, ok.ID, late.ID} {
		if got := deliveryStatuses(t, b, ten.ID, id); len(got) != 1 {
			t.Errorf("event %s got new deliveries: %v", id, got)
		}
	}
	if claims := b.claim(t, 10); len(claims) != 1 || claims[0].Delivery.EventID != failed.ID {
		t.Errorf("after Recover the claimable work is %v, want the recovered event's new delivery", claimedIDs(claims))
	}
	if n, err := b.store.Recover(ctx, ten.ID, dest.ID, start, b.clock.Now().Add(time.Minute), 0); err != nil || n != 2 {
		t.Errorf("Recover over the wider window = %d, %v; want 2 (the first one again and the late one)", n, err)
	}

	other, ctxO := b.tenant(t, "b")
	_, err = b.store.Recover(ctxO, other.ID, dest.ID, start, b.clock.Now(), 0)
	wantCode(t, "Recover of another tenant's destination", err, sluice.ENOTFOUND)
	if !hasAudit(t, b, ten.ID, "destination.recover", dest.ID, "") {
		t.Error("no destination.recover audit entry")
	}
}
