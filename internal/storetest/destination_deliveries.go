package storetest

import (
	"testing"

	"github.com/sluicehq/sluice"
)

// testDestinationDeliveries: a destination's deliveries page newest first,
// only its own, and another tenant's destination is ENOTFOUND.
func testDestinationDeliveries(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "t")
	d := b.destination(t, ctx, ten.ID, "a.*")
	b.destination(t, ctx, ten.ID, "b.*")
	var want []string
	for range 3 {
		want = append([]string{b.event(t, ctx, ten.ID, "a.x").ID}, want...)
	}
	b.event(t, ctx, ten.ID, "b.x")

	var got []string
	page := sluice.Page{Limit: 2}
	for {
		ds, next, err := b.store.DestinationDeliveries(ctx, ten.ID, d.ID, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, dl := range ds {
			if dl.DestinationID != d.ID || dl.TenantID != ten.ID {
				t.Fatalf("listed %+v, not of the destination", dl)
			}
			got = append(got, dl.EventID)
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if len(got) != len(want) || got[0] != want[0] || got[2] != want[2] {
		t.Fatalf("deliveries of events %v, want %v", got, want)
	}
	other, _ := b.tenant(t, "other")
	_, _, err := b.store.DestinationDeliveries(ctx, other.ID, d.ID, sluice.Page{Limit: 10})
	wantCode(t, "another tenant's destination", err, sluice.ENOTFOUND)
}
