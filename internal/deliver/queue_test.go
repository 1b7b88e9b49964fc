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
	if r, _ := d.batchSize(); r.Limit == 0 {
		t.Fatalf("with two payloads queued, batchSize = 0; want room")
	}
	place(1)
	if r, _ := d.batchSize(); r.Limit != 0 {
		t.Errorf("with %d payload bytes queued (bound %d), batchSize = %d; want 0", d.queuedLen, maxQueuedBytes, r.Limit)
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
	if r, _ := d.batchSize(); r.Limit == 0 || d.queuedLen != 2*len(body) {
		t.Errorf("after a queued claim started: batchSize = %d with %d bytes queued; want room and %d", r.Limit, d.queuedLen, 2*len(body))
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

// One tenant's claims, however many destinations they go to, start in at
// most PerTenant workers and fill at most (1+prefetchFactor) times that
// of the claims: another tenant's claim still starts at once, and every
// claim request leaves it room.
func TestTenantShareIsBounded(t *testing.T) {
	d, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}, Workers: 4, PerDestination: 1})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(tenant string, dest int) *sluice.Claim {
		return &sluice.Claim{Delivery: sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: tenant,
			DestinationID: "dst_" + tenant + strconv.Itoa(dest)}}
	}
	var busy []*sluice.Claim
	for i := range 8 {
		busy = append(busy, claim("ten_a", i))
	}
	start, _ := d.placeSince(busy, 0)
	if len(start) != 3 {
		t.Fatalf("%d of tenant a's 8 claims to 8 destinations started, want 3 (the default PerTenant)", len(start))
	}
	if more := d.takeQueued(); len(more) != 0 {
		t.Fatalf("takeQueued started %d more of tenant a's claims with one worker free", len(more))
	}
	r, _ := d.batchSize()
	if r.PerTenant != (1+prefetchFactor)*3 || r.TenantRoom["ten_a"] != r.PerTenant-8 {
		t.Fatalf("claim request PerTenant %d, room of tenant a %d; want %d and %d", r.PerTenant,
			r.TenantRoom["ten_a"], (1+prefetchFactor)*3, (1+prefetchFactor)*3-8)
	}
	if start, _ := d.placeSince([]*sluice.Claim{claim("ten_b", 0)}, 0); len(start) != 1 {
		t.Fatalf("tenant b's claim did not start with tenant a at its share")
	}
}

// PerTenant defaults to all the workers but one destination's share, and
// to more than that share, within Workers.
func TestPerTenantDefault(t *testing.T) {
	for _, c := range []struct{ workers, perDest, perTenant, want int }{
		{0, 0, 0, DefaultPerTenant},
		{4, 1, 0, 3},
		{4, 2, 0, 3},
		{2, 1, 0, 2},
		{1, 0, 0, 1},
		{8, 8, 0, 8},
		{8, 6, 0, 7},
		{8, 2, 20, 8},
		{8, 2, 1, 1},
	} {
		d, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}, Workers: c.workers,
			PerDestination: c.perDest, PerTenant: c.perTenant})
		if err != nil {
			t.Fatal(err)
		}
		if d.cfg.PerTenant != c.want {
			t.Errorf("Workers %d, PerDestination %d, PerTenant %d: PerTenant = %d, want %d", c.workers, c.perDest,
				c.perTenant, d.cfg.PerTenant, c.want)
		}
	}
	if _, err := New(Config{Store: unusedStore{}, RetrySchedule: []time.Duration{0}, PerTenant: -1}); err == nil {
		t.Error("a negative PerTenant was accepted")
	}
}
