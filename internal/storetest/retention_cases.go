package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// retentionCases are the cases of retention by purpose and of payload
// storage.
var retentionCases = []testCase{
	{name: "TenantRetention", fn: testTenantRetention},
	{name: "RetentionWindows", fn: testRetentionWindows},
	{name: "StorageUntilDelivered", fn: testStorageUntilDelivered},
	{name: "StorageNone", fn: testStorageNone},
	{name: "PurgeAudit", fn: testPurgeAudit},
}

// recordRetry records a failed attempt of the claim, due again at next.
func recordRetry(t *testing.T, b *bundle, c *sluice.Claim, next time.Time) {
	t.Helper()
	err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptFailed, HTTPStatus: 503, Error: "http_status",
			Duration: time.Millisecond, At: b.clock.Now()},
		Status: sluice.DeliveryPending, NextAttemptAt: next, Storage: c.Storage})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
}

// setRetention gives the tenant retention overrides.
func (b *bundle) setRetention(t *testing.T, ten *sluice.Tenant, r sluice.Retention) {
	t.Helper()
	ten.Retention = r
	if err := b.store.UpdateTenant(b.ctx, ten); err != nil {
		t.Fatalf("UpdateTenant: %v", err)
	}
}

// publish stores an event of the type with the body, its payload's expiry
// left to the tenant's retention, and returns its id.
func (b *bundle) publish(t *testing.T, tenantID, typ, body string) string {
	t.Helper()
	in := b.newEvent(tenantID, typ, "")
	in.Payload.Body, in.Payload.ExpiresAt = []byte(body), time.Time{}
	e, _, err := b.create(b.ctx, in, 0)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	return e.ID
}

// A tenant's retention overrides are stored, read back and validated; an
// unknown tenant is not found.
func testTenantRetention(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	got, err := b.store.Tenant(b.ctx, ten.ID)
	if err != nil || got.Name != "a" || got.Retention != (sluice.Retention{}) || got.CreatedAt.IsZero() {
		t.Fatalf("Tenant = %+v, %v; want its name and no overrides", got, err)
	}
	want := sluice.Retention{PayloadStorage: sluice.StorageUntilDelivered, Undelivered: 24 * time.Hour,
		Delivered: 48 * time.Hour, Metadata: 90 * 24 * time.Hour, Audit: 400 * 24 * time.Hour}
	ten.Name = "renamed"
	b.setRetention(t, ten, want)
	if got, err = b.store.Tenant(b.ctx, ten.ID); err != nil || got.Name != "renamed" || got.Retention != want {
		t.Fatalf("Tenant after UpdateTenant = %+v, %v; want %+v", got, err, want)
	}
	if !hasAudit(t, b, ten.ID, "tenant.update", ten.ID, "") {
		t.Fatal("no tenant.update audit entry")
	}
	for _, bad := range []sluice.Retention{{PayloadStorage: "forever"}, {Undelivered: -time.Hour},
		{Audit: 11 * 8760 * time.Hour}} {
		err := b.store.UpdateTenant(b.ctx, &sluice.Tenant{ID: ten.ID, Name: "x", Retention: bad})
		wantCode(t, "UpdateTenant with a bad retention", err, sluice.EINVALID)
	}
	if got, _ := b.store.Tenant(b.ctx, ten.ID); got.Retention != want || got.Name != "renamed" {
		t.Fatal("a refused update changed the tenant")
	}
	_, err = b.store.Tenant(b.ctx, "ten_missing")
	wantCode(t, "Tenant of an unknown id", err, sluice.ENOTFOUND)
	err = b.store.UpdateTenant(b.ctx, &sluice.Tenant{ID: "ten_missing", Name: "x"})
	wantCode(t, "UpdateTenant of an unknown id", err, sluice.ENOTFOUND)
}

// A payload is kept for its tenant's undelivered window while its event
// is not delivered, and for the delivered window once it is (or when it
// was routed nowhere), whichever of the two is the longer.
func testRetentionWindows(t *testing.T, b *bundle) {
	short, ctx := b.tenant(t, "undelivered shorter")
	b.destination(t, ctx, short.ID, "order.*")
	b.setRetention(t, short, sluice.Retention{Undelivered: 2 * time.Hour, Delivered: 5 * time.Hour})
	long, ctxL := b.tenant(t, "delivered shorter")
	b.destination(t, ctxL, long.ID, "order.*")
	b.setRetention(t, long, sluice.Retention{Undelivered: 5 * time.Hour, Delivered: 2 * time.Hour})

	delivered := b.publish(t, short.ID, "order.paid", `{"n":1}`)
	pending := b.publish(t, short.ID, "order.paid", `{"n":2}`)
	unrouted := b.publish(t, short.ID, "user.seen", `{"n":3}`)
	deliveredL := b.publish(t, long.ID, "order.paid", `{"n":4}`)
	pendingL := b.publish(t, long.ID, "order.paid", `{"n":5}`)
	for _, c := range b.claim(t, 10) {
		if id := c.Delivery.EventID; id == delivered || id == deliveredL {
			recordSuccess(t, b, c)
		} else {
			recordRetry(t, b, c, b.clock.Now().Add(24*time.Hour))
		}
	}

	purge := func(want int) {
		t.Helper()
		if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 100); err != nil || n != want {
			t.Fatalf("PurgeExpiredPayloads = %d, %v; want %d", n, err, want)
		}
	}
	b.clock.Advance(2*time.Hour + time.Millisecond)
	// Before the purge looks, a payload due by the other window reads as it
	// stands, kept.
	wantPayloadKept(t, b, short.ID, delivered, `{"n":1}`)
	wantPayloadKept(t, b, long.ID, pendingL, `{"n":5}`)
	purge(2) // the pending one of the first tenant, the delivered one of the second
	wantPayloadGone(t, b, short.ID, pending, sluice.PayloadExpired)
	if got := deliveryStatuses(t, b, short.ID, pending); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryExpired}) {
		t.Fatalf("the expired payload's delivery = %v, want expired", got)
	}
	wantPayloadGone(t, b, long.ID, deliveredL, sluice.PayloadExpired)
	wantPayloadKept(t, b, short.ID, delivered, `{"n":1}`)
	wantPayloadKept(t, b, short.ID, unrouted, `{"n":3}`)
	wantPayloadKept(t, b, long.ID, pendingL, `{"n":5}`)
	purge(0) // the kept ones were given their own expiry

	b.clock.Advance(3 * time.Hour)
	purge(3)
	wantPayloadGone(t, b, short.ID, delivered, sluice.PayloadExpired)
	wantPayloadGone(t, b, short.ID, unrouted, sluice.PayloadExpired)
	wantPayloadGone(t, b, long.ID, pendingL, sluice.PayloadExpired)
}

// With storage until_delivered, a payload is deleted as the last of its
// deliveries succeeds, and never written when no destination matched; a
// delivery that fails keeps it for the undelivered window. A source may
// ask for it while its tenant retains.
func testStorageUntilDelivered(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "order.*")
	b.destination(t, ctx, ten.ID, "order.paid")
	b.setRetention(t, ten, sluice.Retention{PayloadStorage: sluice.StorageUntilDelivered})

	two := b.publish(t, ten.ID, "order.paid", `{"two":true}`)        // two destinations
	failing := b.publish(t, ten.ID, "order.shipped", `{"one":true}`) // one, which fails
	unrouted := b.publish(t, ten.ID, "user.seen", `{"none":true}`)
	if got := payloadState(t, b, ten.ID, unrouted); got != sluice.PayloadNotStored {
		t.Fatalf("an unrouted event's payload_state %q, want not_stored", got)
	}
	if p, err := b.driver.Read().Payload(b.ctx, ten.ID, unrouted); err != nil || p.Body != nil {
		t.Fatalf("an unrouted event's payload row: %v; want none", err)
	}

	claims := b.claim(t, 10)
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}
	var second *sluice.Claim
	for _, c := range claims {
		if c.Storage != sluice.StorageUntilDelivered || len(c.Body) == 0 {
			t.Fatalf("claim of %s: storage %q, body of %d bytes", c.Delivery.EventID, c.Storage, len(c.Body))
		}
		switch {
		case c.Delivery.EventID == failing:
			recordExhausted(t, b, c)
		case second == nil:
			second = c // the second of two: recorded after the first
		default:
			recordSuccess(t, b, c)
		}
	}
	wantPayloadKept(t, b, ten.ID, two, `{"two":true}`) // one delivery still pending
	recordSuccess(t, b, second)
	wantPayloadGone(t, b, ten.ID, two, sluice.PayloadExpired)
	if p, err := b.driver.Read().Payload(b.ctx, ten.ID, two); err != nil || p.Body != nil {
		t.Fatalf("a delivered event's payload row: %v; want it deleted", err)
	}
	wantPayloadKept(t, b, ten.ID, failing, `{"one":true}`)
	// An event replayed after its payload went cannot be sent again.
	_, err := b.store.Replay(ctx, ten.ID, two, "", 0)
	wantCode(t, "Replay of a delivered event kept until delivered", err, sluice.EGONE)

	// A source's storage overrides its tenant's.
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctxB, other.ID, "*")
	in := b.newEvent(other.ID, "order.paid", "")
	in.Payload.ExpiresAt, in.Storage = time.Time{}, sluice.StorageUntilDelivered
	e, _, err := b.create(b.ctx, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	kept := b.publish(t, other.ID, "order.paid", `{"kept":true}`)
	for _, c := range b.claim(t, 10) {
		recordSuccess(t, b, c)
	}
	wantPayloadGone(t, b, other.ID, e.ID, sluice.PayloadExpired)
	wantPayloadKept(t, b, other.ID, kept, `{"kept":true}`)
}

// With storage none, a payload is never written: the deliveries claimed
// as the event is stored carry it, and so do their retries claimed by the
// same store while it keeps it in memory; another process's store cannot
// send them, and ends them as payloads gone.
func testStorageNone(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	b.setRetention(t, ten, sluice.Retention{PayloadStorage: sluice.StorageNone})

	in := b.newEvent(ten.ID, "order.paid", "")
	in.Payload.Body, in.Payload.ExpiresAt = []byte(`{"volatile":1}`), time.Time{}
	in.Subjects = []sluice.Subject{subjectAda}
	in.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second}
	created, err := b.store.CreateEvent(b.ctx, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if created.Storage != sluice.StorageNone || len(created.Claims) != 1 ||
		string(created.Claims[0].Body) != `{"volatile":1}` || created.Claims[0].Storage != sluice.StorageNone {
		t.Fatalf("CreateEvent = storage %q, %d claims; want none, one claim carrying the body", created.Storage,
			len(created.Claims))
	}
	id := created.Event.ID
	if got := payloadState(t, b, ten.ID, id); got != sluice.PayloadNotStored {
		t.Fatalf("payload_state %q, want not_stored", got)
	}
	if p, err := b.driver.Read().Payload(b.ctx, ten.ID, id); err != nil || p.Body != nil {
		t.Fatalf("payload row: %v; want none", err)
	}
	_, err = b.store.Payload(b.ctx, ten.ID, id)
	wantCode(t, "Payload of an event stored without it", err, sluice.EGONE)
	// The subject is indexed all the same: an erasure finds the event.
	if got, _ := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda); len(got) != 0 {
		t.Fatalf("SubjectPayloads = %d, want none to export", len(got))
	}

	// A retry claimed by this store comes from memory.
	recordRetry(t, b, created.Claims[0], b.clock.Now())
	retry := b.claim(t, 10)
	if len(retry) != 1 || string(retry[0].Body) != `{"volatile":1}` || retry[0].Storage != sluice.StorageNone {
		t.Fatalf("the retry's claim: %d claims; want one carrying the body from memory", len(retry))
	}
	// Another process does not have it: the retry it would claim ends as
	// a payload gone.
	recordRetry(t, b, retry[0], b.clock.Now())
	other := b.another(t)
	claims, err := other.ClaimDue(b.ctx, sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second})
	if err != nil || len(claims) != 0 {
		t.Fatalf("another store's claims of the retry = %d, %v; want none", len(claims), err)
	}
	if got := deliveryStatuses(t, b, ten.ID, id); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryExpired}) {
		t.Fatalf("the delivery another store could not send = %v, want expired", got)
	}

	// A delivery claimed later by this store is sent from memory too.
	second := b.newEvent(ten.ID, "order.paid", "")
	second.Payload.ExpiresAt = time.Time{}
	e2, _, err := b.create(b.ctx, second, 0)
	if err != nil {
		t.Fatal(err)
	}
	c2 := b.claim(t, 10)
	if len(c2) != 1 || c2[0].Delivery.EventID != e2.ID || c2[0].Body == nil {
		t.Fatalf("claims of a second event = %d, want it with its body from memory", len(c2))
	}
	recordSuccess(t, b, c2[0])
	if e, _ := b.store.Event(b.ctx, ten.ID, e2.ID); e.Status != sluice.EventDelivered || e.PayloadState != sluice.PayloadNotStored {
		t.Fatalf("status %q, payload_state %q; want delivered, not_stored", e.Status, e.PayloadState)
	}

	// An erasure drops it from memory: its retries end.
	third := b.newEvent(ten.ID, "order.paid", "")
	third.Payload.ExpiresAt = time.Time{}
	e3, _, err := b.create(b.ctx, third, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.ErasePayload(ctx, ten.ID, e3.ID); err != nil {
		t.Fatal(err)
	}
	if got := deliveryStatuses(t, b, ten.ID, e3.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryCancelled}) {
		t.Fatalf("deliveries after erasing an event stored in memory = %v, want cancelled", got)
	}
}

// Audit entries, erasure records and observations go at their tenant's
// audit retention; another tenant's stay.
func testPurgeAudit(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.setRetention(t, ten, sluice.Retention{Audit: time.Hour})
	other, ctxB := b.tenant(t, "b")
	b.publish(t, ten.ID, "order.paid", `{"a":1}`)
	b.publish(t, other.ID, "order.paid", `{"a":1}`)
	if _, err := b.store.EraseSubject(ctx, ten.ID, subjectAda); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.EraseSubject(ctxB, other.ID, subjectAda); err != nil {
		t.Fatal(err)
	}
	count := func(tenantID string) (audit, observations int) {
		t.Helper()
		a, _, err := b.store.AuditLog(b.ctx, tenantID, sluice.Page{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		o, err := b.store.Observations(b.ctx, tenantID)
		if err != nil {
			t.Fatal(err)
		}
		return len(a), len(o)
	}
	audit, observations := count(ten.ID)
	if audit == 0 || observations == 0 {
		t.Fatalf("before: %d audit entries, %d observations; want some of each", audit, observations)
	}
	theirAudit, theirObservations := count(other.ID)

	if n, err := b.store.PurgeAudit(b.ctx, b.clock.Now().Add(time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("PurgeAudit at the retention's end = %d, %v; want nothing", n, err)
	}
	// Its audit entries, its erasure record and its observations.
	n, err := b.store.PurgeAudit(b.ctx, b.clock.Now().Add(time.Hour+time.Millisecond), 100)
	if want := audit + 1 + observations; err != nil || n != want {
		t.Fatalf("PurgeAudit past the retention = %d, %v; want %d", n, err, want)
	}
	if a, o := count(ten.ID); a != 0 || o != 0 {
		t.Fatalf("after: %d audit entries, %d observations; want none", a, o)
	}
	if a, o := count(other.ID); a != theirAudit || o != theirObservations {
		t.Fatalf("another tenant's audit entries and observations: %d and %d, want %d and %d", a, o, theirAudit,
			theirObservations)
	}
	// The type is seen anew: its next event is its first, and announces no
	// drift.
	b.publish(t, ten.ID, "order.paid", `{"a":1,"b":2}`)
	list, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range list {
		if e.Type == sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift {
			t.Fatal("a type seen anew after its observations were purged announced drift")
		}
	}
}
