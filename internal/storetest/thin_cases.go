package storetest

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice"
)

// thinCases read a delivery back for a thin delivery's fetch.
var thinCases = []testCase{
	{name: "FetchClaim", fn: testFetchClaim},
}

// A claim carries its event's time; FetchClaim reads the delivery back,
// claimed or settled, with its payload and destination, by any process
// sharing the store (which signs fetch tokens with the same key); with
// the payload erased its Body is nil; with its destination deleted, or
// for an unknown id, it is ENOTFOUND.
func testFetchClaim(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "thin")
	d := b.destination(t, ctx, ten.ID, "*")
	e := b.event(t, ctx, ten.ID, "invoice.paid")
	claims := b.claim(t, 10)
	if len(claims) != 1 || !claims[0].ReceivedAt.Equal(e.ReceivedAt) {
		t.Fatalf("claims %+v, want one of the event received at %v", claims, e.ReceivedAt)
	}
	other := b.another(t)
	if !bytes.Equal(other.FetchKey(), b.store.FetchKey()) || len(b.store.FetchKey()) != 32 {
		t.Fatal("two processes sharing the store sign fetch tokens with different keys")
	}
	c, err := other.FetchClaim(b.ctx, claims[0].Delivery.ID)
	if err != nil {
		t.Fatalf("FetchClaim: %v", err)
	}
	if c.Delivery.TenantID != ten.ID || c.Delivery.EventID != e.ID || c.Delivery.DestinationID != d.ID ||
		c.EventType != "invoice.paid" || !c.ReceivedAt.Equal(e.ReceivedAt) || string(c.Body) != `{"n":1}` ||
		c.ContentType != "application/json" || c.Destination.Secret != d.Secret {
		t.Fatalf("FetchClaim = %+v", c)
	}
	if err := b.store.ErasePayload(ctx, ten.ID, e.ID); err != nil {
		t.Fatal(err)
	}
	if c, err = b.store.FetchClaim(b.ctx, claims[0].Delivery.ID); err != nil || c.Body != nil {
		t.Fatalf("after erasure FetchClaim = %+v, %v; want no body", c, err)
	}
	if err := b.store.DeleteDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.FetchClaim(b.ctx, claims[0].Delivery.ID)
	wantCode(t, "FetchClaim of a deleted destination's delivery", err, sluice.ENOTFOUND)
	_, err = b.store.FetchClaim(b.ctx, sluice.NewID(sluice.PrefixDelivery))
	wantCode(t, "FetchClaim of an unknown delivery", err, sluice.ENOTFOUND)
}
