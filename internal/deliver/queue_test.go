package deliver

import (
	"strconv"
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
		claims := make([]*sluice.Claim, n)
		for i := range claims {
			claims[i] = claim()
		}
		start, back := d.placeSince(claims, 0) // no failure was ever recorded
		if len(back) > 0 {
			t.Fatalf("%d claims given back with no failure recorded", len(back))
		}
		return len(start)
	}
	if started := place(3); started != 1 {
		t.Fatalf("%d of 3 claims started, want 1 (PerDestination)", started)
	}
	if limit, _, _ := d.batchSize(); limit == 0 {
		t.Fatalf("with two payloads queued, batchSize = 0; want room")
	}
	place(1)
	if limit, _, _ := d.batchSize(); limit != 0 {
		t.Errorf("with %d payload bytes queued (bound %d), batchSize = %d; want 0", d.queuedLen, maxQueuedBytes, limit)
	}
	if r, offer := d.OfferRequest(); r != nil || offer != nil {
		t.Errorf("with the queues full, OfferRequest = %+v and an offer function; want nils", r)
	}
	d.mu.Lock()
	popped := d.popQueued("dst_a")
	d.mu.Unlock()
	if popped == nil {
		t.Fatal("popQueued returned nothing")
	}
	if limit, _, _ := d.batchSize(); limit == 0 || d.queuedLen != 2*len(body) {
		t.Errorf("after a queued claim started: batchSize = %d with %d bytes queued; want room and %d", limit, d.queuedLen, 2*len(body))
	}
}

// The failures remembered for placeSince are bounded. Once forgotten, a
// claim begun before then is judged to overlap a failure, whatever its
// destination; one begun after is judged on what followed.
func TestFailuresRememberedAreBounded(t *testing.T) {
	d, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}})
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	before := d.failSeq
	for i := range maxLastFail + 1 {
		d.noteFailure("dst_" + strconv.Itoa(i))
	}
	if len(d.lastFail) > maxLastFail {
		t.Fatalf("%d destinations remembered, bound %d", len(d.lastFail), maxLastFail)
	}
	if !d.failedSince("dst_quiet", before) {
		t.Error("a claim begun before failures were forgotten is not given back")
	}
	after := d.failSeq
	if d.failedSince("dst_quiet", after) {
		t.Error("a claim begun after the last failure is given back")
	}
	d.noteFailure("dst_late")
	if !d.failedSince("dst_late", after) || d.failedSince("dst_quiet", after) {
		t.Error("after forgetting, a new failure is not judged by its destination alone")
	}
}

// The wake-up times held are bounded: past maxWakes the latest give way.
func TestWakesAreBounded(t *testing.T) {
	now := time.Now()
	d, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}, PollInterval: time.Hour,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	for i := maxWakes + 10; i > 0; i-- {
		d.wakeAt(now.Add(time.Minute + time.Duration(i)*time.Millisecond))
	}
	d.wakeAt(now.Add(2 * time.Hour)) // past the poll: left to it
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.wakes) != maxWakes {
		t.Fatalf("%d wake-up times held, want %d", len(d.wakes), maxWakes)
	}
	if first, last := d.wakes[0], d.wakes[len(d.wakes)-1]; !first.Equal(now.Add(time.Minute+time.Millisecond)) ||
		!last.Equal(now.Add(time.Minute+maxWakes*time.Millisecond)) {
		t.Errorf("wake-up times held run from %s to %s; want the earliest %d", first.Sub(now), last.Sub(now), maxWakes)
	}
}
