package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func claimedIDs(claims []*sluice.Claim) []string {
	var out []string
	for _, c := range claims {
		out = append(out, c.Delivery.ID)
	}
	slices.Sort(out)
	return out
}

func testClaimDue(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	off := b.destination(t, ctx, ten.ID, "*")
	off.Enabled, off.DisabledReason = false, sluice.DisabledManual
	if err := b.store.UpdateDestination(ctx, off); err != nil {
		t.Fatal(err)
	}
	now := b.event(t, ctx, ten.ID, "a.now")
	later, _, err := b.create(ctx, b.newEvent(ten.ID, "a.later", ""), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	claims := b.claim(t, 10)
	if len(claims) != 1 {
		t.Fatalf("claimed %d, want 1 (the due delivery of the enabled destination)", len(claims))
	}
	c := claims[0]
	if c.Delivery.EventID != now.ID || c.Delivery.DestinationID != d.ID || c.Delivery.Attempts != 0 ||
		c.EventType != "a.now" || string(c.Body) != `{"n":1}` || c.ContentType != "application/json" ||
		c.Destination.URL != d.URL || c.Destination.Secret != d.Secret || c.Delivery.TenantID != ten.ID {
		t.Fatalf("claim = %+v", c)
	}
	b.clock.Advance(10 * time.Second) // within the first claim's lease
	claims = b.claim(t, 10)
	if len(claims) != 1 || claims[0].Delivery.EventID != later.ID {
		t.Fatalf("after 10s claimed %v, want the later event's delivery", claimedIDs(claims))
	}

	// The disabled destination's deliveries are claimed once it is enabled.
	off.Enabled, off.DisabledReason = true, ""
	if err := b.store.UpdateDestination(ctx, off); err != nil {
		t.Fatal(err)
	}
	claims = b.claim(t, 10)
	if len(claims) != 2 || claims[0].Delivery.DestinationID != off.ID || claims[1].Delivery.DestinationID != off.ID {
		t.Fatalf("after enabling claimed %d, want the 2 waiting deliveries", len(claims))
	}
}

func testClaimLease(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	for range 3 {
		b.event(t, ctx, ten.ID, "x.y")
	}
	first := b.claim(t, 2)
	if len(first) != 2 {
		t.Fatalf("claimed %d with limit 2", len(first))
	}
	second := b.claim(t, 10)
	if len(second) != 1 || slices.Contains(claimedIDs(first), second[0].Delivery.ID) {
		t.Fatalf("second claim = %v, want only the unclaimed one", claimedIDs(second))
	}
	if again := b.claim(t, 10); len(again) != 0 {
		t.Fatalf("claimed %d while all are leased", len(again))
	}
	b.clock.Advance(29 * time.Second)
	if again := b.claim(t, 10); len(again) != 0 {
		t.Fatalf("claimed %d before the lease ended", len(again))
	}
	b.clock.Advance(time.Second)
	if again := b.claim(t, 10); len(again) != 3 {
		t.Fatalf("after the lease ended claimed %d, want all 3 again", len(again))
	}
}

func testClaimSkipsDestinations(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	slow := b.destination(t, ctx, ten.ID, "*")
	fast := b.destination(t, ctx, ten.ID, "*")
	b.event(t, ctx, ten.ID, "x.y")
	claims := b.claim(t, 10, slow.ID)
	if len(claims) != 1 || claims[0].Delivery.DestinationID != fast.ID {
		t.Fatalf("claim skipping %s = %+v", slow.ID, claims)
	}
}

// A destination with room for 2 gives 2 of its due deliveries to a claim,
// which fills up from the others even though the capped one's are due first.
func testClaimRoom(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	capped := b.destination(t, ctx, ten.ID, "capped.*")
	free := b.destination(t, ctx, ten.ID, "free.*")
	for range 20 {
		b.event(t, ctx, ten.ID, "capped.x")
	}
	for range 3 {
		b.event(t, ctx, ten.ID, "free.x")
	}
	claims, err := b.store.ClaimDue(b.ctx, sluice.ClaimRequest{Now: b.clock.Now(), Limit: 8,
		Lease: 30 * time.Second, Room: map[string]int{capped.ID: 2}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range claims {
		got[c.Delivery.DestinationID]++
	}
	if got[capped.ID] != 2 || got[free.ID] != 3 {
		t.Fatalf("claimed %v, want 2 of the capped destination and the other's 3", got)
	}
}

// A tenant's room caps what one claim takes of all its destinations
// together, and the claim fills up from other tenants even though the
// capped tenant's deliveries are due first; a tenant with no room is
// skipped, and PerTenant caps the tenants the room does not name.
func testClaimTenantRoom(t *testing.T, b *bundle) {
	busy, ctx := b.tenant(t, "busy")
	quiet, ctxQ := b.tenant(t, "quiet")
	b.destination(t, ctx, busy.ID, "*")
	b.destination(t, ctx, busy.ID, "*")
	b.destination(t, ctxQ, quiet.ID, "*")
	for range 10 {
		b.event(t, ctx, busy.ID, "x.y") // a delivery to each of busy's two destinations
	}
	b.clock.Advance(time.Millisecond)
	for range 3 {
		b.event(t, ctxQ, quiet.ID, "x.y")
	}
	claimByTenant := func(r sluice.ClaimRequest) map[string]int {
		t.Helper()
		r.Now, r.Lease = b.clock.Now(), 30*time.Second
		claims, err := b.store.ClaimDue(b.ctx, r)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		got := map[string]int{}
		for _, c := range claims {
			got[c.Delivery.TenantID]++
		}
		return got
	}
	if got := claimByTenant(sluice.ClaimRequest{Limit: 8, TenantRoom: map[string]int{busy.ID: 2}}); got[busy.ID] != 2 || got[quiet.ID] != 3 {
		t.Fatalf("claimed %v, want 2 of the capped tenant and the other's 3", got)
	}
	if got := claimByTenant(sluice.ClaimRequest{Limit: 8, TenantRoom: map[string]int{busy.ID: 0}}); len(got) != 0 {
		t.Fatalf("claimed %v from a tenant with no room", got)
	}
	if got := claimByTenant(sluice.ClaimRequest{Limit: 8, PerTenant: 3}); got[busy.ID] != 3 || len(got) != 1 {
		t.Fatalf("claimed %v with PerTenant 3, want 3 of the busy tenant", got)
	}
	if got := claimByTenant(sluice.ClaimRequest{Limit: 8, PerTenant: 5, PerDestination: 1}); got[busy.ID] != 2 || len(got) != 1 {
		t.Fatalf("claimed %v with PerDestination 1, want one from each of the busy tenant's destinations", got)
	}
}

// Deliveries created claimed keep to the tenant's room, or PerTenant.
func testCreateEventClaimedTenantRoom(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	for range 3 {
		b.destination(t, ctx, ten.ID, "*")
	}
	for _, r := range []struct {
		claim *sluice.ClaimRequest
		want  int
	}{
		{&sluice.ClaimRequest{Limit: 10, PerDestination: 4, TenantRoom: map[string]int{ten.ID: 2}}, 2},
		{&sluice.ClaimRequest{Limit: 10, PerDestination: 4, TenantRoom: map[string]int{ten.ID: 0}}, 0},
		{&sluice.ClaimRequest{Limit: 10, PerDestination: 4, PerTenant: 1}, 1},
		{&sluice.ClaimRequest{Limit: 10, PerDestination: 4, PerTenant: 1, TenantRoom: map[string]int{"ten_other": 0, ten.ID: 5}}, 3},
	} {
		ne := b.newEvent(ten.ID, "x.y", "")
		r.claim.Now, r.claim.Lease = b.clock.Now(), 30*time.Second
		ne.Claim = r.claim
		created, err := b.store.CreateEvent(ctx, ne, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(created.Claims) != r.want || created.Unclaimed != (r.want < 3) {
			t.Errorf("under %+v: created %d claimed, unclaimed %v; want %d claimed", *r.claim, len(created.Claims),
				created.Unclaimed, r.want)
		}
	}
}

func testClaimExpiredPayload(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	in := b.newEvent(ten.ID, "x.y", "")
	e, _, err := b.create(ctx, in, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Hour)
	// The payload expired (an hour in) before the delivery was due, and the
	// retention service has not purged it yet: it must not be sent.
	if claims := b.claim(t, 10); len(claims) != 0 {
		t.Fatalf("claimed %d deliveries of an expired payload", len(claims))
	}
	ds, err := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if err != nil || len(ds) != 1 || ds[0].Status != sluice.DeliveryExpired || !ds[0].NextAttemptAt.IsZero() {
		t.Fatalf("deliveries = %+v, %v, want one expired", ds, err)
	}
	if got, _ := b.store.Event(b.ctx, ten.ID, e.ID); got.Status != sluice.EventCancelled {
		t.Fatalf("event status %q, want cancelled", got.Status)
	}
}

func testRecordAttempt(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	e := b.event(t, ctx, ten.ID, "x.y")
	c := b.claim(t, 1)[0]
	attempt := func(n int, outcome sluice.AttemptOutcome, status int) sluice.Attempt {
		return sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: c.Delivery.ID,
			EventID: e.ID, DestinationID: c.Delivery.DestinationID, Number: n, Outcome: outcome,
			HTTPStatus: status, Duration: 12 * time.Millisecond, Error: map[bool]string{true: "http_status"}[outcome == sluice.AttemptFailed],
			At: b.clock.Now()}
	}
	retryAt := b.clock.Now().Add(5 * time.Second)
	if err := b.record(&sluice.AttemptResult{Attempt: attempt(1, sluice.AttemptFailed, 500),
		Status: sluice.DeliveryPending, NextAttemptAt: retryAt}); err != nil {
		t.Fatalf("RecordAttempt(retry): %v", err)
	}
	// The same attempt recorded again (a second worker after a lease ended).
	err := b.record(&sluice.AttemptResult{Attempt: attempt(1, sluice.AttemptFailed, 500),
		Status: sluice.DeliveryPending, NextAttemptAt: retryAt})
	wantCode(t, "RecordAttempt of a stale claim", err, sluice.ECONFLICT)

	ds, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if ds[0].Status != sluice.DeliveryPending || ds[0].Attempts != 1 || !ds[0].NextAttemptAt.Equal(retryAt) {
		t.Fatalf("after a failed attempt delivery = %+v", ds[0])
	}
	if got := b.claim(t, 1); len(got) != 0 {
		t.Fatalf("claimed before the retry time")
	}
	b.clock.Advance(5 * time.Second)
	c = b.claim(t, 1)[0]
	if c.Delivery.Attempts != 1 {
		t.Fatalf("reclaimed with %d attempts, want 1", c.Delivery.Attempts)
	}
	if err := b.record(&sluice.AttemptResult{Attempt: attempt(2, sluice.AttemptSucceeded, 204),
		Status: sluice.DeliverySucceeded}); err != nil {
		t.Fatalf("RecordAttempt(success): %v", err)
	}
	ds, _ = b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if ds[0].Status != sluice.DeliverySucceeded || ds[0].Attempts != 2 || !ds[0].NextAttemptAt.IsZero() {
		t.Fatalf("after success delivery = %+v", ds[0])
	}
	if got, _ := b.store.Event(b.ctx, ten.ID, e.ID); got.Status != sluice.EventDelivered {
		t.Fatalf("event status %q, want delivered", got.Status)
	}
	as, err := b.store.Attempts(b.ctx, ten.ID, e.ID)
	if err != nil || len(as) != 2 {
		t.Fatalf("Attempts = %d, %v, want 2", len(as), err)
	}
	if a := as[0]; a.Number != 1 || a.Outcome != sluice.AttemptFailed || a.HTTPStatus != 500 ||
		a.Duration != 12*time.Millisecond || a.Error != "http_status" || a.DeliveryID != c.Delivery.ID {
		t.Fatalf("first attempt = %+v", a)
	}
	if a := as[1]; a.Number != 2 || a.Outcome != sluice.AttemptSucceeded || a.Error != "" {
		t.Fatalf("second attempt = %+v", a)
	}

	// Exhaustion marks the event failed.
	e2 := b.event(t, ctx, ten.ID, "x.y")
	c = b.claim(t, 1)[0]
	a := attempt(1, sluice.AttemptFailed, 0)
	a.DeliveryID, a.EventID = c.Delivery.ID, e2.ID
	if err := b.record(&sluice.AttemptResult{Attempt: a, Status: sluice.DeliveryExhausted}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.store.Event(b.ctx, ten.ID, e2.ID); got.Status != sluice.EventFailed {
		t.Fatalf("exhausted event status %q, want failed", got.Status)
	}
}

// Attempts recorded together each count as if recorded alone; one whose
// delivery is no longer claimed fails alone.
func testRecordAttempts(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	var events []*sluice.Event
	for range 3 {
		events = append(events, b.event(t, ctx, ten.ID, "x.y"))
	}
	claims := b.claim(t, 3)
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}
	rs := make([]*sluice.AttemptResult, len(claims))
	for i, c := range claims {
		rs[i] = &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID, Number: 1,
			Outcome: sluice.AttemptSucceeded, HTTPStatus: 200, At: b.clock.Now()}, Status: sluice.DeliverySucceeded,
			CountsForHealth: true}
	}
	rs[1].Attempt.Number = 2 // a stale claim's view of the delivery
	recs := b.store.RecordAttempts(b.ctx, rs)
	if len(recs) != 3 || recs[0].Err != nil || recs[2].Err != nil {
		t.Fatalf("RecordAttempts = %v, want no error for the first and last", recs)
	}
	wantCode(t, "RecordAttempts of a stale attempt", recs[1].Err, sluice.ECONFLICT)
	for i, c := range claims {
		want := sluice.EventDelivered
		if i == 1 {
			want = sluice.EventPending
		}
		if got, err := b.store.Event(b.ctx, ten.ID, c.Delivery.EventID); err != nil || got.Status != want {
			t.Errorf("event %d: status %v, %v; want %s", i, got, err, want)
		}
		as, err := b.store.Attempts(b.ctx, ten.ID, c.Delivery.EventID)
		if wantN := map[bool]int{true: 0, false: 1}[i == 1]; err != nil || len(as) != wantN {
			t.Errorf("event %d: %d attempts, %v; want %d", i, len(as), err, wantN)
		}
	}
	if recs := b.store.RecordAttempts(b.ctx, nil); len(recs) != 0 {
		t.Errorf("RecordAttempts(nil) = %v, want none", recs)
	}
}

// In one batch, successes and failures move their destinations' health as
// if recorded alone: successes to a healthy destination, a failure, and
// successes that reset a failing destination. A destination's attempts
// share the batch's read of its health.
func testRecordAttemptsHealth(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	healthy := b.destination(t, ctx, ten.ID, "a.*")
	failing := b.destination(t, ctx, ten.ID, "b.*")
	recovering := b.destination(t, ctx, ten.ID, "c.*")
	result := func(c *sluice.Claim, ok bool) *sluice.AttemptResult {
		r := &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, At: b.clock.Now()}, CountsForHealth: true}
		if ok {
			r.Attempt.Outcome, r.Attempt.HTTPStatus, r.Status = sluice.AttemptSucceeded, 200, sluice.DeliverySucceeded
		} else {
			r.Attempt.Outcome, r.Attempt.HTTPStatus, r.Attempt.Error = sluice.AttemptFailed, 500, "http_status"
			r.Status, r.NextAttemptAt = sluice.DeliveryPending, b.clock.Now().Add(time.Hour)
		}
		return r
	}
	b.event(t, ctx, ten.ID, "c.x")
	first := b.claim(t, 1)
	if len(first) != 1 {
		t.Fatalf("claimed %d, want 1", len(first))
	}
	if err := b.record(result(first[0], false)); err != nil {
		t.Fatal(err)
	}
	if got := b.reload(t, recovering); got.Failures != 1 {
		t.Fatalf("after a failure, %d failures; want 1", got.Failures)
	}

	for _, typ := range []string{"a.x", "b.x", "c.x", "a.x", "c.x"} {
		b.event(t, ctx, ten.ID, typ)
	}
	claims := b.claim(t, 5)
	if len(claims) != 5 {
		t.Fatalf("claimed %d, want 5", len(claims))
	}
	rs := make([]*sluice.AttemptResult, len(claims))
	for i, c := range claims {
		rs[i] = result(c, c.Delivery.DestinationID != failing.ID)
	}
	if recs := b.store.RecordAttempts(b.ctx, rs); slices.ContainsFunc(recs, func(r sluice.AttemptRecorded) bool { return r.Err != nil }) {
		t.Fatalf("RecordAttempts = %v", recs)
	}
	for d, want := range map[*sluice.Destination]int{healthy: 0, failing: 1, recovering: 0} {
		if got := b.reload(t, d); got.Failures != want {
			t.Errorf("destination %s: %d failures after the batch, want %d", d.Name, got.Failures, want)
		}
	}
	for _, c := range claims {
		if as, err := b.store.Attempts(b.ctx, ten.ID, c.Delivery.EventID); err != nil || len(as) != 1 {
			t.Errorf("event of %s: %d attempts, %v; want 1", c.Delivery.DestinationID, len(as), err)
		}
	}
}

func testRecordAttemptDisables(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	b.event(t, ctx, ten.ID, "x.y")
	waiting := b.event(t, ctx, ten.ID, "x.y")
	c := b.claim(t, 1)[0]
	err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: c.Delivery.ID,
			EventID: c.Delivery.EventID, DestinationID: d.ID, Number: 1, Outcome: sluice.AttemptFailed,
			HTTPStatus: 410, Error: "http_status", At: b.clock.Now()},
		Status: sluice.DeliveryExhausted, DisableDestination: sluice.DisabledGone})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	got, _ := b.store.Destination(b.ctx, ten.ID, d.ID)
	if got.Enabled || got.DisabledReason != sluice.DisabledGone || got.State() != sluice.StateDisabled {
		t.Fatalf("destination after 410 = %+v", got)
	}
	if claims := b.claim(t, 10); len(claims) != 0 {
		t.Fatalf("claimed %d deliveries of a disabled destination", len(claims))
	}
	if ds, _ := b.store.Deliveries(b.ctx, ten.ID, waiting.ID); ds[0].Status != sluice.DeliveryPending {
		t.Fatalf("waiting delivery = %q, want pending", ds[0].Status)
	}
}

func testDeleteDestinationCancels(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	e := b.event(t, ctx, ten.ID, "x.y")
	if err := b.store.DeleteDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	ds, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if len(ds) != 1 || ds[0].Status != sluice.DeliveryCancelled {
		t.Fatalf("deliveries after delete = %+v, want one cancelled", ds)
	}
	if got, _ := b.store.Event(b.ctx, ten.ID, e.ID); got.Status != sluice.EventCancelled {
		t.Fatalf("event status %q, want cancelled", got.Status)
	}
	if claims := b.claim(t, 10); len(claims) != 0 {
		t.Fatalf("claimed %d deliveries of a deleted destination", len(claims))
	}
}

func testReleaseClaims(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	b.event(t, ctx, ten.ID, "x.y")
	if len(b.claim(t, 10)) != 1 {
		t.Fatal("nothing to claim")
	}
	if err := b.store.ReleaseClaims(b.ctx); err != nil {
		t.Fatalf("ReleaseClaims: %v", err)
	}
	if got := b.claim(t, 10); len(got) != 1 {
		t.Fatalf("after ReleaseClaims claimed %d, want 1 at once", len(got))
	}
}

// ReturnClaims makes exactly the claims given due again at once.
func testReturnClaims(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	for range 3 {
		b.event(t, ctx, ten.ID, "x.y")
	}
	claims := b.claim(t, 10)
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}
	recordSuccess(t, b, claims[0])
	ids := []string{claims[0].Delivery.ID, claims[1].Delivery.ID}
	if err := b.store.ReturnClaims(b.ctx, ids); err != nil {
		t.Fatalf("ReturnClaims: %v", err)
	}
	again := b.claim(t, 10)
	if len(again) != 1 || again[0].Delivery.ID != claims[1].Delivery.ID || again[0].Delivery.Attempts != 0 {
		t.Fatalf("after returning claimed %v, want only the returned, unattempted one", claimedIDs(again))
	}
	ds, err := b.store.Deliveries(b.ctx, ten.ID, claims[0].Delivery.EventID)
	if err != nil || ds[0].Status != sluice.DeliverySucceeded {
		t.Fatalf("the recorded delivery changed: %+v, %v", ds, err)
	}
}

func testAudit(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, _ := b.tenant(t, "b")
	d := b.destination(t, ctx, ten.ID, "*")
	if err := b.store.DeleteDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.store.RecordAudit(ctx, &sluice.AuditEntry{TenantID: ten.ID, ActorKeyID: "key_x",
		Action: "event.payload_read", ResourceID: "evt_1"}); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Action+" "+e.ResourceID)
	}
	want := []string{"event.payload_read evt_1", "destination.delete " + d.ID, "destination.create " + d.ID,
		"tenant.create " + ten.ID}
	if !slices.Equal(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
	actor := sluice.ActorFrom(ctx).KeyID
	if entries[1].ActorKeyID != actor || entries[1].At.IsZero() {
		t.Fatalf("audit entry = %+v, want actor %s", entries[1], actor)
	}
	if theirs, _, _ := b.store.AuditLog(b.ctx, other.ID, sluice.Page{}); len(theirs) != 1 {
		t.Fatalf("other tenant sees %d audit entries, want its own 1", len(theirs))
	}
}

// Many writers at once share commits; a failing write in a batch must not
// undo the others.
func testConcurrentWrites(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			in := b.newEvent(ten.ID, "x.y", fmt.Sprintf("k%d", i%50))
			if i%10 == 0 {
				in.Event.TenantID = "ten_missing" // violates the tenants foreign key
			}
			_, _, errs[i] = b.create(ctx, in, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%10 == 0 {
			if err == nil {
				t.Errorf("write %d with a missing tenant succeeded", i)
			}
		} else if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	events, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Page: sluice.Page{Limit: 500}})
	if err != nil {
		t.Fatal(err)
	}
	// Keys k0..k49; every i%10==0 failed, which are the keys ki with i%10==0
	// only when no other i shares the key: i and i+50 share a key, and both
	// are multiples of 10 together, so exactly 45 distinct keys succeeded.
	if len(events) != 45 {
		t.Fatalf("stored %d events, want 45 (one per key that had a good write)", len(events))
	}
	for _, e := range events {
		if ds, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID); len(ds) != 1 {
			t.Fatalf("event %s has %d deliveries, want 1", e.ID, len(ds))
		}
	}
}

// CreateEvent with a claim request creates the deliveries it may already
// claimed and returns them ready to send; the others (a rate-limited
// destination, one over its room) are made due for ClaimDue as usual.
func testCreateEventClaimed(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	plain := b.destination(t, ctx, ten.ID, "*")
	full := b.destination(t, ctx, ten.ID, "*")
	limited := b.destination(t, ctx, ten.ID, "*")
	limited.RateLimitPerSecond = 5
	if err := b.store.UpdateDestination(ctx, limited); err != nil {
		t.Fatal(err)
	}
	ne := b.newEvent(ten.ID, "x.y", "")
	ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second,
		PerDestination: 4, Room: map[string]int{full.ID: 0}}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Claims) != 1 || !created.Unclaimed {
		t.Fatalf("created %d claimed, unclaimed %v; want 1 claimed and some unclaimed", len(created.Claims), created.Unclaimed)
	}
	c := created.Claims[0]
	if c.Delivery.DestinationID != plain.ID || c.Delivery.EventID != ne.Event.ID || string(c.Body) != `{"n":1}` ||
		c.EventType != "x.y" || c.Destination.Secret != plain.Secret || c.Delivery.Attempts != 0 {
		t.Fatalf("claim = %+v", c)
	}
	// The claimed one is leased; the other two are due.
	got := claimedIDs(b.claim(t, 10))
	if len(got) != 2 || slices.Contains(got, c.Delivery.ID) {
		t.Fatalf("ClaimDue took %v, want the 2 unclaimed deliveries only", got)
	}
	recordSuccess(t, b, c)
	ds, err := b.store.Deliveries(b.ctx, ten.ID, ne.Event.ID)
	if err != nil || len(ds) != 3 {
		t.Fatalf("deliveries = %d, %v", len(ds), err)
	}
}

// QueueStats counts pending deliveries as due, scheduled or in flight, and
// destinations by state, across tenants.
func testQueueStats(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctx, ten.ID, "*")
	off := b.destination(t, ctxB, other.ID, "*")
	off.Enabled, off.DisabledReason = false, sluice.DisabledManual
	if err := b.store.UpdateDestination(ctxB, off); err != nil {
		t.Fatal(err)
	}
	b.event(t, ctx, ten.ID, "x.y")
	b.event(t, ctx, ten.ID, "x.y")
	if _, _, err := b.create(ctx, b.newEvent(ten.ID, "x.y", ""), time.Minute); err != nil {
		t.Fatal(err)
	}
	b.event(t, ctxB, other.ID, "x.y") // waits for its disabled destination: due
	if got := b.claim(t, 1); len(got) != 1 {
		t.Fatalf("claimed %d, want 1", len(got))
	}
	q, err := b.store.QueueStats(b.ctx, b.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if q.Due != 2 || q.Scheduled != 1 || q.InFlight != 1 {
		t.Fatalf("queue = due %d, scheduled %d, in flight %d; want 2, 1, 1", q.Due, q.Scheduled, q.InFlight)
	}
	if q.Destinations[sluice.StateActive] != 1 || q.Destinations[sluice.StateDisabled] != 1 || len(q.Destinations) != 2 {
		t.Fatalf("destinations by state = %v", q.Destinations)
	}
}
