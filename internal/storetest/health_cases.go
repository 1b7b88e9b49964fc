package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// fail records a failed attempt of the claim that started at the clock's
// time and took a millisecond, retried at once.
func fail(t *testing.T, b *bundle, c *sluice.Claim) sluice.AttemptRecorded {
	t.Helper()
	now := b.clock.Now()
	r := &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500, Error: "http_status",
			Duration: time.Millisecond, At: now},
		EventType: c.EventType, Status: sluice.DeliveryPending, NextAttemptAt: now, CountsForHealth: true}
	rec := b.store.RecordAttempts(b.ctx, []*sluice.AttemptResult{r})[0]
	if rec.Err != nil {
		t.Fatalf("RecordAttempts: %v", rec.Err)
	}
	return rec
}

// succeed records a successful attempt of the claim.
func succeed(t *testing.T, b *bundle, c *sluice.Claim) {
	t.Helper()
	err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptSucceeded, HTTPStatus: 200,
			Duration: time.Millisecond, At: b.clock.Now()},
		EventType: c.EventType, Status: sluice.DeliverySucceeded, CountsForHealth: true})
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
		fail(t, b, c)
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
	fail(t, b, claims[3])
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
	fail(t, b, probe[0])
	got = b.reload(t, d)
	if want := b.clock.Now().Add(time.Millisecond + 15*time.Second).Truncate(time.Millisecond); !got.PausedUntil.Equal(want) {
		t.Fatalf("after a failed probe paused until %v, want %v (the pause doubled, capped at 15s)", got.PausedUntil, want)
	}

	b.clock.Advance(16 * time.Second)
	probe = b.claim(t, 10)
	if len(probe) != 1 {
		t.Fatalf("claimed %d for the second probe", len(probe))
	}
	succeed(t, b, probe[0])
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
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	alerts := b.destination(t, ctx, ten.ID, "sluice.*")
	e := b.newEvent(ten.ID, "x.y", "")
	e.Payload.ExpiresAt = b.clock.Now().Add(30 * 24 * time.Hour)
	if _, _, err := b.create(ctx, e, 0); err != nil {
		t.Fatal(err)
	}
	start := b.clock.Now()
	if r := fail(t, b, b.claim(t, 1)[0]); r.Disabled != "" || r.Unclaimed {
		t.Fatalf("first failure disabled %q, stored notices %v", r.Disabled, r.Unclaimed)
	}
	b.clock.Advance(120*time.Hour - time.Minute)
	if r := fail(t, b, b.claim(t, 1)[0]); r.Disabled != "" {
		t.Fatalf("failing for 5 days less a minute disabled it: %q", r.Disabled)
	}
	b.clock.Advance(time.Minute)
	r := fail(t, b, b.claim(t, 1)[0])
	if r.Disabled != sluice.DisabledFailing || !r.Unclaimed {
		t.Fatalf("after 5 days failing: disabled %q, notices stored %v", r.Disabled, r.Unclaimed)
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

// An attempt that exhausts its delivery publishes
// sluice.delivery.exhausted with it, routed like any event except that
// "*" does not match it, and naming ids and types only. A delivery made
// to recover an exhausted one says so, and its success publishes
// sluice.delivery.recovered.
func testNoticesAndRecovers(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	alerts := b.destination(t, ctx, ten.ID, sluice.NoticeDeliveryExhausted, sluice.NoticeDeliveryRecovered)
	e := b.event(t, ctx, ten.ID, "x.y")
	c := b.claim(t, 1)[0]
	if c.Delivery.Recovers {
		t.Fatal("a first delivery recovers nothing")
	}
	rec := b.store.RecordAttempts(b.ctx, []*sluice.AttemptResult{{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: c.Delivery.ID,
			EventID: e.ID, DestinationID: d.ID, Number: 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500,
			Error: "http_status", At: b.clock.Now()},
		EventType: c.EventType, Status: sluice.DeliveryExhausted, CountsForHealth: true}})[0]
	if rec.Err != nil || !rec.Unclaimed {
		t.Fatalf("RecordAttempts = %+v, want the notice's delivery due", rec)
	}
	notices := b.eventsOfType(t, ten.ID, sluice.NoticeDeliveryExhausted)
	if len(notices) != 1 {
		t.Fatalf("%d exhausted notices, want 1", len(notices))
	}
	if got := deliveryDestinations(t, b, ten.ID, notices[0].ID); !slices.Equal(got, []string{alerts.ID}) {
		t.Fatalf("notice delivered to %v, want only the destination naming it", got)
	}
	p, err := b.store.Payload(b.ctx, ten.ID, notices[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var body sluice.DeliveryNotice
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatal(err)
	}
	if want := (sluice.DeliveryNotice{EventID: e.ID, EventType: "x.y", DestinationID: d.ID, DeliveryID: c.Delivery.ID,
		Attempts: 1, At: b.clock.Now()}); body != want {
		t.Fatalf("notice = %+v, want %+v", body, want)
	}
	// The notice's own delivery, exhausted too, announces nothing.
	nc := b.claim(t, 1)
	if len(nc) != 1 || nc[0].EventType != sluice.NoticeDeliveryExhausted {
		t.Fatalf("claimed %d, want the notice", len(nc))
	}
	if err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: nc[0].Delivery.ID,
			EventID: nc[0].Delivery.EventID, DestinationID: alerts.ID, Number: 1, Outcome: sluice.AttemptFailed,
			HTTPStatus: 500, Error: "http_status", At: b.clock.Now()},
		EventType: nc[0].EventType, Status: sluice.DeliveryExhausted, CountsForHealth: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.eventsOfType(t, ten.ID, sluice.NoticeDeliveryExhausted)); n != 1 {
		t.Fatalf("%d exhausted notices after the notice's own exhaustion, want still 1", n)
	}

	if _, err := b.store.Replay(ctx, ten.ID, e.ID, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Recover(ctx, ten.ID, d.ID, b.clock.Now().Add(-time.Hour), b.clock.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	var recovering []*sluice.Claim
	for _, c := range b.claim(t, 10) {
		switch {
		case c.Delivery.DestinationID == d.ID && c.Delivery.Recovers:
			recovering = append(recovering, c)
		case c.Delivery.Recovers:
			t.Fatalf("delivery to %s recovers, but nothing was exhausted there", c.Delivery.DestinationID)
		}
	}
	if len(recovering) != 2 {
		t.Fatalf("%d deliveries recover the exhausted one, want 2 (the replay and the recover)", len(recovering))
	}
	rc := recovering[0]
	if err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: rc.Delivery.ID,
			EventID: e.ID, DestinationID: d.ID, Number: 1, Outcome: sluice.AttemptSucceeded, HTTPStatus: 200,
			At: b.clock.Now()},
		EventType: rc.EventType, Recovers: rc.Delivery.Recovers, Status: sluice.DeliverySucceeded,
		CountsForHealth: true}); err != nil {
		t.Fatal(err)
	}
	recovered := b.eventsOfType(t, ten.ID, sluice.NoticeDeliveryRecovered)
	if len(recovered) != 1 {
		t.Fatalf("%d recovered notices, want 1", len(recovered))
	}
	if got := deliveryDestinations(t, b, ten.ID, recovered[0].ID); !slices.Equal(got, []string{alerts.ID}) {
		t.Fatalf("recovered notice delivered to %v, want the destination naming it", got)
	}
}

// eventsOfType lists the tenant's events of the type, newest first.
func (b *bundle) eventsOfType(t *testing.T, tenantID, typ string) []*sluice.Event {
	t.Helper()
	events, _, err := b.store.Events(b.ctx, tenantID, sluice.EventFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return events
}
