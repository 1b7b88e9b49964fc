package deliver

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// unusedStore satisfies Config.Store for tests that never reach the store;
// any call panics.
type unusedStore struct{ sluice.Store }

// Queued claims hold their payloads in memory: past maxQueuedBytes of them
// the dispatcher claims nothing more, at birth or from the store, until
// workers drain the queues.
func TestQueuedPayloadBytesAreBounded(t *testing.T) {
	d, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}, Workers: 4, PerDestination: 1})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, maxQueuedBytes/3+1) // three queued exceed the bound
	claim := func() *sluice.Claim {
		return &sluice.Claim{Delivery: sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), DestinationID: "dst_a"}, Body: body}
	}
	place := func(n int) int {
		d.mu.Lock()
		defer d.mu.Unlock()
		claims := make([]*sluice.Claim, n)
		for i := range claims {
			claims[i] = claim()
		}
		return len(d.placeLocked(claims))
	}
	if started := place(3); started != 1 {
		t.Fatalf("%d of 3 claims started, want 1 (PerDestination)", started)
	}
	if limit, _ := d.batchSize(); limit == 0 {
		t.Fatalf("with two payloads queued, batchSize = 0; want room")
	}
	place(1)
	if limit, _ := d.batchSize(); limit != 0 {
		t.Errorf("with %d payload bytes queued (bound %d), batchSize = %d; want 0", d.queuedLen, maxQueuedBytes, limit)
	}
	if r := d.OfferRequest(); r != nil {
		t.Errorf("with the queues full, OfferRequest = %+v; want nil", r)
	}
	d.mu.Lock()
	popped := d.popQueued("dst_a")
	d.mu.Unlock()
	if popped == nil {
		t.Fatal("popQueued returned nothing")
	}
	if limit, _ := d.batchSize(); limit == 0 || d.queuedLen != 2*len(body) {
		t.Errorf("after a queued claim started: batchSize = %d with %d bytes queued; want room and %d", limit, d.queuedLen, 2*len(body))
	}
}
