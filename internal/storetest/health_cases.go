package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// fail records a failed attempt of the claim that started at the clock's
// time and took a millisecond, retried at once, with the health policy h.
func fail(t *testing.T, b *bundle, c *sluice.Claim, h sluice.Health) *sluice.AttemptResult {
	t.Helper()
	now := b.clock.Now()
	r := &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500, Error: "http_status",
			Duration: time.Millisecond, At: now},
		Status: sluice.DeliveryPending, NextAttemptAt: now, CountsForHealth: true, Health: h}
	if err := b.store.RecordAttempt(b.ctx, r); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	return r
}

// succeed records a successful attempt of the claim with the policy h.
func succeed(t *testing.T, b *bundle, c *sluice.Claim, h sluice.Health) {
	t.Helper()
	err := b.store.RecordAttempt(b.ctx, &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptSucceeded, HTTPStatus: 200,
			Duration: time.Millisecond, At: b.clock.Now()},
		Status: sluice.DeliverySucceeded, CountsForHealth: true, Health: h})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
}

func (b *bundle) reload(t *testing.T, d *sluice.Destination) *sluice.Destination {
	t.Helper()
	got, err := b.store.Destination(b.ctx, d.TenantID, d.ID)
	if err != nil {
		t.Fatalf("Destination: %v", err)
	}
	return got
}

// A rate-limited destination's deliveries start 1/N s apart: one is
// claimed now, the rest are rescheduled to evenly spaced starts they keep,
// and other destinations' deliveries are claimed in the same call.
func testClaimRateLimit(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	limited := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "slow",
		URL: "https://example.com/slow", EventTypes: []string{"slow.*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		RateLimitPerSecond: 10, Enabled: true}
	if err := b.store.CreateDestination(ctx, limited); err != nil {
		t.Fatal(err)
	}
	free := b.destination(t, ctx, ten.ID, "fast.*")
	var slow []*sluice.Event
	for range 5 {
		slow = append(slow, b.event(t, ctx, ten.ID, "slow.x"))
	}
	b.event(t, ctx, ten.ID, "fast.x")
	b.event(t, ctx, ten.ID, "fast.x")

	claims := b.claim(t, 10)
	perDest := map[string]int{}
	for _, c := range claims {
		perDest[c.Delivery.DestinationID]++
	}
	if perDest[limited.ID] != 1 || perDest[free.ID] != 2 {
		t.Fatalf("first claim took %v, want 1 of the limited destination and 2 of the other", perDest)
	}
	// The other four wait at starts 100 ms apart.
	start := b.clock.Now()
	var starts []time.Duration
	for _, e := range slow {
		ds, err := b.store.Deliveries(b.ctx, ten.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ds[0].Status != sluice.DeliveryPending || ds[0].Attempts != 0 {
			t.Fatalf("delivery = %+v, want pending with no attempt", ds[0])
		}
		if d := ds[0].NextAttemptAt.Sub(start); d > 0 && d < 30*time.Second {
			starts = append(starts, d)
		}
	}
	slices.Sort(starts)
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	if !slices.Equal(starts, want) {
		t.Fatalf("rescheduled starts = %v, want %v", starts, want)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %d before the next start", len(got))
	}
	b.clock.Advance(100 * time.Millisecond)
	if got := b.claim(t, 10); len(got) != 1 || got[0].Delivery.DestinationID != limited.ID {
		t.Fatalf("at +100ms claimed %d, want the one reserved delivery", len(got))
	}
	// A claim that comes late finds two reserved starts passed, yet starts
	// only one: the next waits an interval after it, so there is no burst.
	b.clock.Advance(200 * time.Millisecond)
	for i := range 3 {
		if got := b.claim(t, 10); len(got) != 1 || got[0].Delivery.DestinationID != limited.ID {
			t.Fatalf("at +%dms claimed %d, want 1", 300+100*i, len(got))
		}
		if got := b.claim(t, 10); len(got) != 0 {
			t.Fatalf("at +%dms claimed %d more within the interval", 300+100*i, len(got))
		}
		b.clock.Advance(100 * time.Millisecond)
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %d after all 5 went", len(got))
	}
}

// The circuit opens after OpenAfter consecutive failures, holds the
// destination's due deliveries back, lets one probe through when the pause
// ends, doubles the pause when the probe fails, and closes on a success.
func testCircuitBreaker(t *testing.T, b *bundle) {
	h := sluice.Health{OpenAfter: 3, Pause: 10 * time.Second, MaxPause: 15 * time.Second}
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	other := b.destination(t, ctx, ten.ID, "other.*")
	for range 6 {
		b.event(t, ctx, ten.ID, "x.y")
	}
	claims := b.claim(t, 4)
	if len(claims) != 4 {
		t.Fatalf("claimed %d, want 4", len(claims))
	}
	for i, c := range claims[:3] {
		fail(t, b, c, h)
		if got := b.reload(t, d); got.Failures != i+1 || !got.FailingSince.Equal(b.clock.Now().Truncate(time.Millisecond)) {
			t.Fatalf("after %d failures: failures %d, failing since %v", i+1, got.Failures, got.FailingSince)
		}
	}
	got := b.reload(t, d)
	opened := got.PausedUntil
	if got.State() != sluice.StatePaused || !opened.Equal(b.clock.Now().Add(time.Millisecond+10*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("after 3 failures: state %q, paused until %v", got.State(), opened)
	}
	if !hasAudit(t, b, ten.ID, "destination.pause", d.ID, "") {
		t.Fatal("no destination.pause audit entry")
	}
	// An attempt already under way when the circuit opened counts, but
	// does not lengthen the pause.
	fail(t, b, claims[3], h)
	if got := b.reload(t, d); got.Failures != 4 || !got.PausedUntil.Equal(opened) {
		t.Fatalf("after a straggler: failures %d, paused until %v (was %v)", got.Failures, got.PausedUntil, opened)
	}
	if other.State() != sluice.StateActive {
		t.Fatalf("other destination state %q", other.State())
	}

	b.clock.Advance(5 * time.Second)
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %d while paused", len(got))
	}
	b.clock.Advance(6 * time.Second)
	probe := b.claim(t, 10)
	if len(probe) != 1 {
		t.Fatalf("claimed %d when the pause ended, want 1 probe", len(probe))
	}
	if got := b.claim(t, 10); len(got) != 0 {
		t.Fatalf("claimed %d beside the probe", len(got))
	}
	if got := b.reload(t, d); got.State() != sluice.StatePaused {
		t.Fatalf("state during the probe = %q", got.State())
	}
	fail(t, b, probe[0], h)
	got = b.reload(t, d)
	if want := b.clock.Now().Add(time.Millisecond + 15*time.Second).Truncate(time.Millisecond); !got.PausedUntil.Equal(want) {
		t.Fatalf("after a failed probe paused until %v, want %v (the pause doubled, capped at 15s)", got.PausedUntil, want)
	}

	b.clock.Advance(16 * time.Second)
	probe = b.claim(t, 10)
	if len(probe) != 1 {
		t.Fatalf("claimed %d for the second probe", len(probe))
	}
	succeed(t, b, probe[0], h)
	got = b.reload(t, d)
	if got.State() != sluice.StateActive || got.Failures != 0 || !got.FailingSince.IsZero() || !got.PausedUntil.IsZero() {
		t.Fatalf("after a successful probe: %+v", got)
	}
	if !hasAudit(t, b, ten.ID, "destination.resume", d.ID, "") {
		t.Fatal("no destination.resume audit entry")
	}
	if got := b.claim(t, 10); len(got) != 5 {
		t.Fatalf("after the circuit closed claimed %d, want the 5 waiting", len(got))
	}
}

// A destination failing with no success for DisableAfter is disabled at
// its next failure; sluice.destination.disabled goes, in the same
// transaction, to the destinations that name it, and not to "*". Enabling
// it again forgets the failures.
func testAutoDisable(t *testing.T, b *bundle) {
	h := sluice.Health{DisableAfter: 120 * time.Hour, NoticeRetention: time.Hour}
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	alerts := b.destination(t, ctx, ten.ID, "sluice.*")
	e := b.newEvent(ten.ID, "x.y", "")
	e.Payload.ExpiresAt = b.clock.Now().Add(30 * 24 * time.Hour)
	if _, _, err := b.store.CreateEvent(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	start := b.clock.Now()
	if r := fail(t, b, b.claim(t, 1)[0], h); r.Disabled != "" || r.NoticesStored {
		t.Fatalf("first failure disabled %q, stored notices %v", r.Disabled, r.NoticesStored)
	}
	b.clock.Advance(120*time.Hour - time.Minute)
	if r := fail(t, b, b.claim(t, 1)[0], h); r.Disabled != "" {
		t.Fatalf("failing for 5 days less a minute disabled it: %q", r.Disabled)
	}
	b.clock.Advance(time.Minute)
	r := fail(t, b, b.claim(t, 1)[0], h)
	if r.Disabled != sluice.DisabledFailing || !r.NoticesStored {
		t.Fatalf("after 5 days failing: disabled %q, notices stored %v", r.Disabled, r.NoticesStored)
	}
	got := b.reload(t, d)
	if got.Enabled || got.DisabledReason != sluice.DisabledFailing || !got.FailingSince.Equal(start.Truncate(time.Millisecond)) {
		t.Fatalf("destination = %+v", got)
	}
	if !hasAudit(t, b, ten.ID, "destination.disable", d.ID, "") {
		t.Fatal("no destination.disable audit entry")
	}
	claims := b.claim(t, 10)
	if len(claims) != 1 || claims[0].Delivery.DestinationID != alerts.ID || claims[0].EventType != sluice.NoticeDestinationDisabled {
		t.Fatalf("claims after the disable = %d, want the notice to the alert destination", len(claims))
	}
	var notice sluice.DestinationNotice
	if err := json.Unmarshal(claims[0].Body, &notice); err != nil {
		t.Fatalf("notice body: %v", err)
	}
	if notice.DestinationID != d.ID || notice.Reason != sluice.DisabledFailing || notice.At.IsZero() {
		t.Fatalf("notice = %+v", notice)
	}

	d = b.reload(t, d)
	d.Enabled, d.DisabledReason = true, ""
	if err := b.store.UpdateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if got := b.reload(t, d); got.Failures != 0 || !got.FailingSince.IsZero() || got.State() != sluice.StateActive {
		t.Fatalf("after enabling again: %+v", got)
	}
}

// Notices given with an attempt are stored with it and routed like any
// event, except that "*" does not match them. A delivery made to recover
// an exhausted one says so.
func testNoticesAndRecovers(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	alerts := b.destination(t, ctx, ten.ID, sluice.NoticeDeliveryExhausted)
	e := b.event(t, ctx, ten.ID, "x.y")
	c := b.claim(t, 1)[0]
	if c.Delivery.Recovers {
		t.Fatal("a first delivery recovers nothing")
	}
	notice, err := sluice.NewNotice(ten.ID, sluice.NoticeDeliveryExhausted, sluice.DeliveryNotice{
		EventID: e.ID, EventType: "x.y", DestinationID: d.ID, DeliveryID: c.Delivery.ID, Attempts: 1,
		At: b.clock.Now()}, b.clock.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: c.Delivery.ID,
			EventID: e.ID, DestinationID: d.ID, Number: 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500,
			Error: "http_status", At: b.clock.Now()},
		Status: sluice.DeliveryExhausted, Notices: []*sluice.NewEvent{notice}}
	if err := b.store.RecordAttempt(b.ctx, r); err != nil {
		t.Fatal(err)
	}
	if !r.NoticesStored {
		t.Fatal("NoticesStored not set")
	}
	if got := deliveryDestinations(t, b, ten.ID, notice.Event.ID); !slices.Equal(got, []string{alerts.ID}) {
		t.Fatalf("notice delivered to %v, want only the destination naming it", got)
	}

	if _, err := b.store.Replay(ctx, ten.ID, e.ID, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Recover(ctx, ten.ID, d.ID, b.clock.Now().Add(-time.Hour), b.clock.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	recovering := 0
	for _, c := range b.claim(t, 10) {
		switch {
		case c.Delivery.DestinationID == d.ID && c.Delivery.Recovers:
			recovering++
		case c.Delivery.Recovers:
			t.Fatalf("delivery to %s recovers, but nothing was exhausted there", c.Delivery.DestinationID)
		}
	}
	if recovering != 2 {
		t.Fatalf("%d deliveries recover the exhausted one, want 2 (the replay and the recover)", recovering)
	}
}
