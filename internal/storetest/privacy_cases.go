package storetest

import (
	"bytes"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Subjects the privacy cases use, already normalised.
var (
	subjectAda  = sluice.Subject{Type: "email", Value: "ada@example.com"}
	subjectBob  = sluice.Subject{Type: "email", Value: "bob@example.com"}
	subjectCust = sluice.Subject{Type: "customer_id", Value: "cus_123"}
)

// subjectEvent publishes an event about the subjects whose payload is body
// and expires after ttl, due now.
func (b *bundle) subjectEvent(t *testing.T, tenantID, body string, ttl time.Duration, subjects ...sluice.Subject) *sluice.Event {
	t.Helper()
	in := b.newEvent(tenantID, "customer.updated", "")
	in.Payload.Body = []byte(body)
	in.Payload.ExpiresAt = b.clock.Now().Add(ttl)
	in.Subjects = subjects
	e, _, err := b.create(b.ctx, in, 0)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	return e
}

// payloadState returns the event's payload_state, failing if it is gone.
func payloadState(t *testing.T, b *bundle, tenantID, eventID string) sluice.PayloadState {
	t.Helper()
	e, err := b.store.Event(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatalf("Event(%s): %v", eventID, err)
	}
	return e.PayloadState
}

// deliveryStatuses returns the statuses of the event's deliveries, oldest
// first, checking that only pending ones have a next attempt.
func deliveryStatuses(t *testing.T, b *bundle, tenantID, eventID string) []sluice.DeliveryStatus {
	t.Helper()
	ds, err := b.store.Deliveries(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatalf("Deliveries(%s): %v", eventID, err)
	}
	var out []sluice.DeliveryStatus
	for _, d := range ds {
		if (d.Status == sluice.DeliveryPending) == d.NextAttemptAt.IsZero() {
			t.Fatalf("delivery %s is %s with next attempt %v", d.ID, d.Status, d.NextAttemptAt)
		}
		out = append(out, d.Status)
	}
	return out
}

// wantPayloadGone checks that the event's payload reads as EGONE and its
// metadata says why.
func wantPayloadGone(t *testing.T, b *bundle, tenantID, eventID string, state sluice.PayloadState) {
	t.Helper()
	_, err := b.store.Payload(b.ctx, tenantID, eventID)
	wantCode(t, "Payload of "+eventID, err, sluice.EGONE)
	if got := payloadState(t, b, tenantID, eventID); got != state {
		t.Fatalf("event %s payload_state %q, want %q", eventID, got, state)
	}
}

// wantPayloadKept checks that the event's payload is still readable.
func wantPayloadKept(t *testing.T, b *bundle, tenantID, eventID, body string) {
	t.Helper()
	p, err := b.store.Payload(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatalf("Payload(%s): %v", eventID, err)
	}
	if string(p.Body) != body {
		t.Fatalf("Payload(%s) body changed", eventID)
	}
	if got := payloadState(t, b, tenantID, eventID); got != sluice.PayloadRetained {
		t.Fatalf("event %s payload_state %q, want retained", eventID, got)
	}
}

// hasAudit reports whether the tenant's audit log has the action on the
// resource, by the actor in ctx if one is given.
func hasAudit(t *testing.T, b *bundle, tenantID, action, resourceID, actorKeyID string) bool {
	t.Helper()
	entries, _, err := b.store.AuditLog(b.ctx, tenantID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	for _, e := range entries {
		if e.Action == action && e.ResourceID == resourceID && (actorKeyID == "" || e.ActorKeyID == actorKeyID) {
			return true
		}
	}
	return false
}

// recordSuccess records a successful first attempt of the claim.
func recordSuccess(t *testing.T, b *bundle, c *sluice.Claim) {
	t.Helper()
	err := b.record(&sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: c.Delivery.TenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID,
			Number: c.Delivery.Attempts + 1, Outcome: sluice.AttemptSucceeded, HTTPStatus: 204,
			Duration: time.Millisecond, At: b.clock.Now()},
		Status: sluice.DeliverySucceeded, Storage: c.Storage})
	if err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
}

func testErasePayload(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	d1 := b.destination(t, ctx, ten.ID, "*")
	b.destination(t, ctx, ten.ID, "*")
	erased := b.event(t, ctx, ten.ID, "x.y")
	kept := b.event(t, ctx, ten.ID, "x.y")

	// One delivery of the erased event already succeeded; the other is still
	// pending (and leased).
	for _, c := range b.claim(t, 10) {
		if c.Delivery.EventID == erased.ID && c.Delivery.DestinationID == d1.ID {
			recordSuccess(t, b, c)
		}
	}

	wantCode(t, "ErasePayload by another tenant", b.store.ErasePayload(ctxB, other.ID, erased.ID), sluice.ENOTFOUND)
	wantCode(t, "ErasePayload(unknown)", b.store.ErasePayload(ctx, ten.ID, "evt_unknown"), sluice.ENOTFOUND)
	wantPayloadKept(t, b, ten.ID, erased.ID, `{"n":1}`)

	if err := b.store.ErasePayload(ctx, ten.ID, erased.ID); err != nil {
		t.Fatalf("ErasePayload: %v", err)
	}
	wantPayloadGone(t, b, ten.ID, erased.ID, sluice.PayloadErased)
	ds, err := b.store.Deliveries(b.ctx, ten.ID, erased.ID)
	if err != nil || len(ds) != 2 {
		t.Fatalf("erased event's deliveries = %d, %v, want 2", len(ds), err)
	}
	for _, d := range ds {
		want := sluice.DeliveryCancelled
		if d.DestinationID == d1.ID {
			want = sluice.DeliverySucceeded
		}
		if d.Status != want || !d.NextAttemptAt.IsZero() {
			t.Fatalf("erased event's delivery to %s = %s (next %v), want %s", d.DestinationID, d.Status, d.NextAttemptAt, want)
		}
	}
	if got, _ := b.store.Event(b.ctx, ten.ID, erased.ID); got.Status != sluice.EventDelivered {
		t.Fatalf("erased event status %q, want delivered (recomputed: none pending, one succeeded)", got.Status)
	}
	if as, err := b.store.Attempts(b.ctx, ten.ID, erased.ID); err != nil || len(as) != 1 {
		t.Fatalf("attempts after erasure = %d, %v, want the 1 kept", len(as), err)
	}

	// The other event is untouched.
	wantPayloadKept(t, b, ten.ID, kept.ID, `{"n":1}`)
	if got := deliveryStatuses(t, b, ten.ID, kept.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryPending, sluice.DeliveryPending}) {
		t.Fatalf("other event's deliveries = %v, want both pending", got)
	}

	// Once the leases end only the untouched event's deliveries are claimed.
	b.clock.Advance(30 * time.Second)
	for _, c := range b.claim(t, 10) {
		if c.Delivery.EventID != kept.ID {
			t.Fatalf("claimed a delivery of the erased event")
		}
	}

	// Repeating changes nothing.
	if err := b.store.ErasePayload(ctx, ten.ID, erased.ID); err != nil {
		t.Fatalf("ErasePayload again: %v", err)
	}
	wantPayloadGone(t, b, ten.ID, erased.ID, sluice.PayloadErased)
	if got, _ := b.store.Event(b.ctx, ten.ID, erased.ID); got.Status != sluice.EventDelivered {
		t.Fatalf("after a repeat, status %q, want delivered", got.Status)
	}

	if !hasAudit(t, b, ten.ID, "event.payload_erase", erased.ID, sluice.ActorFrom(ctx).KeyID) {
		t.Fatalf("no event.payload_erase audit entry for %s by the actor", erased.ID)
	}
	if hasAudit(t, b, other.ID, "event.payload_erase", erased.ID, "") {
		t.Fatalf("the refused erasure was audited in the other tenant")
	}
}

func testEraseSubject(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctx, ten.ID, "*")
	b.destination(t, ctxB, other.ID, "*")

	type event struct {
		body, contentType string
		headers           http.Header
		subjects          []sluice.Subject
	}
	events := []event{
		{`{"email":"ada@example.com","n":1}`, "application/json", nil, []sluice.Subject{subjectAda}},
		{"plain text about ada", "text/plain", http.Header{"X-Request-Id": {"r1"}}, []sluice.Subject{subjectAda, subjectCust}},
		{`{"n":3}`, "application/json", nil, []sluice.Subject{subjectAda}},
		{`{"email":"bob@example.com"}`, "application/json", nil, []sluice.Subject{subjectBob}},
		{`{"anonymous":true}`, "application/json", nil, nil},
	}
	var ids []string
	for _, ev := range events {
		in := b.newEvent(ten.ID, "customer.updated", "")
		in.Payload.Body, in.Payload.ContentType, in.Payload.Headers = []byte(ev.body), ev.contentType, ev.headers
		in.Subjects = ev.subjects
		e, _, err := b.create(ctx, in, 0)
		if err != nil {
			t.Fatalf("CreateEvent: %v", err)
		}
		ids = append(ids, e.ID)
		b.clock.Advance(time.Second)
	}
	theirs := b.subjectEvent(t, other.ID, `{"theirs":true}`, time.Hour, subjectAda)

	// Before: the access right returns the three, oldest first.
	got, err := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda)
	if err != nil {
		t.Fatalf("SubjectPayloads: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("SubjectPayloads before = %d, want 3", len(got))
	}
	for i, sp := range got {
		ev := events[i]
		if sp.EventID != ids[i] || sp.Type != "customer.updated" || string(sp.Payload.Body) != ev.body ||
			sp.Payload.ContentType != ev.contentType || !reflect.DeepEqual(sp.Payload.Headers, ev.headers) ||
			sp.IntegrityError || sp.ReceivedAt.IsZero() || sp.Payload.ExpiresAt.IsZero() {
			t.Fatalf("SubjectPayloads[%d]: event %s type %q content type %q, body or headers differ: want event %s",
				i, sp.EventID, sp.Type, sp.Payload.ContentType, ids[i])
		}
	}
	if theirsBefore, _ := b.store.SubjectPayloads(b.ctx, other.ID, subjectAda); len(theirsBefore) != 1 ||
		theirsBefore[0].EventID != theirs.ID {
		t.Fatalf("other tenant's SubjectPayloads = %d, want its own 1", len(theirsBefore))
	}

	er, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil {
		t.Fatalf("EraseSubject: %v", err)
	}
	if !strings.HasPrefix(er.ID, sluice.PrefixErasure) || er.TenantID != ten.ID || er.EventsMatched != 3 ||
		er.PayloadsErased != 3 || !er.CompletedAt.Equal(b.clock.Now()) {
		t.Fatalf("EraseSubject = %+v, want an era_ id, 3 matched, 3 erased, completed now", er)
	}
	for _, id := range ids[:3] {
		wantPayloadGone(t, b, ten.ID, id, sluice.PayloadErased)
		if got := deliveryStatuses(t, b, ten.ID, id); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryCancelled}) {
			t.Fatalf("erased event's deliveries = %v, want cancelled", got)
		}
		if e, _ := b.store.Event(b.ctx, ten.ID, id); e.Status != sluice.EventCancelled {
			t.Fatalf("erased event status %q, want cancelled", e.Status)
		}
	}
	for i, id := range ids[3:] {
		wantPayloadKept(t, b, ten.ID, id, events[3+i].body)
		if got := deliveryStatuses(t, b, ten.ID, id); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryPending}) {
			t.Fatalf("untouched event's deliveries = %v, want pending", got)
		}
	}
	// Subject hashes are per tenant: the other tenant's event is untouched.
	wantPayloadKept(t, b, other.ID, theirs.ID, `{"theirs":true}`)
	if theirsAfter, _ := b.store.SubjectPayloads(b.ctx, other.ID, subjectAda); len(theirsAfter) != 1 {
		t.Fatalf("other tenant's SubjectPayloads after = %d, want 1", len(theirsAfter))
	}

	// After: nothing to export, through this subject or another of the
	// erased events' subjects.
	for _, s := range []sluice.Subject{subjectAda, subjectCust} {
		if after, err := b.store.SubjectPayloads(b.ctx, ten.ID, s); err != nil || len(after) != 0 {
			t.Fatalf("SubjectPayloads(%s) after erasure = %d, %v, want none", s.Type, len(after), err)
		}
	}
	if bobs, _ := b.store.SubjectPayloads(b.ctx, ten.ID, subjectBob); len(bobs) != 1 || bobs[0].EventID != ids[3] {
		t.Fatalf("another subject's SubjectPayloads = %d, want 1", len(bobs))
	}
	if !hasAudit(t, b, ten.ID, "subject.erase", er.ID, sluice.ActorFrom(ctx).KeyID) {
		t.Fatalf("no subject.erase audit entry for %s", er.ID)
	}

	// Repeating erases nothing more and is no error.
	again, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil {
		t.Fatalf("EraseSubject again: %v", err)
	}
	if again.EventsMatched != 0 || again.PayloadsErased != 0 || again.ID == er.ID {
		t.Fatalf("EraseSubject again = %+v, want a new record with 0 matched, 0 erased", again)
	}
	for _, id := range ids[:3] {
		wantPayloadGone(t, b, ten.ID, id, sluice.PayloadErased)
	}
}

// An event whose payload already expired and was purged is matched by an
// erasure but not erased by it: its metadata keeps saying it expired.
func testEraseSubjectExpired(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	short := b.subjectEvent(t, ten.ID, `{"short":true}`, time.Minute, subjectAda)
	long := b.subjectEvent(t, ten.ID, `{"long":true}`, time.Hour, subjectAda)
	b.clock.Advance(time.Minute)
	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 10); err != nil || n != 1 {
		t.Fatalf("PurgeExpiredPayloads = %d, %v, want 1", n, err)
	}
	er, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil {
		t.Fatalf("EraseSubject: %v", err)
	}
	if er.EventsMatched != 2 || er.PayloadsErased != 1 {
		t.Fatalf("EraseSubject = %d matched, %d erased, want 2 and 1", er.EventsMatched, er.PayloadsErased)
	}
	wantPayloadGone(t, b, ten.ID, short.ID, sluice.PayloadExpired)
	if got := deliveryStatuses(t, b, ten.ID, short.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryExpired}) {
		t.Fatalf("expired event's deliveries = %v, want expired", got)
	}
	wantPayloadGone(t, b, ten.ID, long.ID, sluice.PayloadErased)
	if got := deliveryStatuses(t, b, ten.ID, long.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryCancelled}) {
		t.Fatalf("erased event's deliveries = %v, want cancelled", got)
	}

	// Erasing the expired payload by id is no error and changes nothing.
	if err := b.store.ErasePayload(ctx, ten.ID, short.ID); err != nil {
		t.Fatalf("ErasePayload of an expired payload: %v", err)
	}
	wantPayloadGone(t, b, ten.ID, short.ID, sluice.PayloadExpired)
}

// The export leaves out payloads past expires_at even before the retention
// service has purged them.
func testSubjectPayloadsExpiry(t *testing.T, b *bundle) {
	ten, _ := b.tenant(t, "a")
	short := b.subjectEvent(t, ten.ID, `{"short":true}`, time.Minute, subjectAda)
	long := b.subjectEvent(t, ten.ID, `{"long":true}`, time.Hour, subjectAda)
	if got, err := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda); err != nil || len(got) != 2 ||
		got[0].EventID != short.ID || got[1].EventID != long.ID {
		t.Fatalf("SubjectPayloads = %d, %v, want both, oldest first", len(got), err)
	}
	b.clock.Advance(time.Minute - time.Millisecond)
	if got, _ := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda); len(got) != 2 {
		t.Fatalf("a millisecond before expiry SubjectPayloads = %d, want 2", len(got))
	}
	b.clock.Advance(time.Millisecond)
	got, err := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda)
	if err != nil || len(got) != 1 || got[0].EventID != long.ID || string(got[0].Payload.Body) != `{"long":true}` {
		t.Fatalf("at expiry SubjectPayloads = %d, %v, want only the unexpired one", len(got), err)
	}
	b.clock.Advance(time.Hour)
	if got, _ := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda); len(got) != 0 {
		t.Fatalf("after both expired SubjectPayloads = %d, want 0", len(got))
	}
}

func testReplay(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	invoices := b.destination(t, ctx, ten.ID, "invoice.*")
	all := b.destination(t, ctx, ten.ID, "*")
	customers := b.destination(t, ctx, ten.ID, "customer.*")
	theirDest := b.destination(t, ctxB, other.ID, "*")
	e := b.event(t, ctx, ten.ID, "invoice.paid")
	before, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if len(before) != 2 {
		t.Fatalf("event has %d deliveries, want 2", len(before))
	}

	now := b.clock.Now()
	replayed, err := b.store.Replay(ctx, ten.ID, e.ID, "", 5*time.Second)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	var dests []string
	for _, d := range replayed {
		if d.Status != sluice.DeliveryPending || d.Attempts != 0 || d.EventID != e.ID || d.TenantID != ten.ID ||
			!d.NextAttemptAt.Equal(now.Add(5*time.Second)) || !strings.HasPrefix(d.ID, sluice.PrefixDelivery) {
			t.Fatalf("replayed delivery = %+v, want pending, due in 5s", d)
		}
		dests = append(dests, d.DestinationID)
	}
	slices.Sort(dests)
	want := []string{invoices.ID, all.ID}
	slices.Sort(want)
	if !slices.Equal(dests, want) {
		t.Fatalf("replayed to %v, want the matching destinations %v", dests, want)
	}
	after, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if len(after) != 4 || after[0].ID != before[0].ID || after[1].ID != before[1].ID {
		t.Fatalf("after a replay the event has %d deliveries, want the 2 old ones and 2 new", len(after))
	}

	// The old deliveries are due now, the replayed ones after the delay.
	if claims := b.claim(t, 10); len(claims) != 2 || slices.Contains(claimedIDs(claims), replayed[0].ID) ||
		slices.Contains(claimedIDs(claims), replayed[1].ID) {
		t.Fatalf("claimed %v now, want only the 2 old deliveries", claimedIDs(claims))
	}
	b.clock.Advance(5 * time.Second)
	want = []string{replayed[0].ID, replayed[1].ID}
	slices.Sort(want)
	if claims := b.claim(t, 10); !slices.Equal(claimedIDs(claims), want) {
		t.Fatalf("claimed %v after the delay, want the replayed %v", claimedIDs(claims), want)
	}

	// A named destination gets it even if its types do not match.
	one, err := b.store.Replay(ctx, ten.ID, e.ID, customers.ID, 0)
	if err != nil || len(one) != 1 || one[0].DestinationID != customers.ID {
		t.Fatalf("Replay to one destination = %+v, %v", one, err)
	}
	if e, _ := b.store.Event(b.ctx, ten.ID, e.ID); e.Status != sluice.EventPending {
		t.Fatalf("replayed event status %q, want pending", e.Status)
	}

	_, err = b.store.Replay(ctx, ten.ID, "evt_unknown", "", 0)
	wantCode(t, "Replay(unknown event)", err, sluice.ENOTFOUND)
	_, err = b.store.Replay(ctx, ten.ID, e.ID, "dst_unknown", 0)
	wantCode(t, "Replay(unknown destination)", err, sluice.ENOTFOUND)
	_, err = b.store.Replay(ctx, ten.ID, e.ID, theirDest.ID, 0)
	wantCode(t, "Replay to another tenant's destination", err, sluice.ENOTFOUND)
	_, err = b.store.Replay(ctxB, other.ID, e.ID, "", 0)
	wantCode(t, "Replay of another tenant's event", err, sluice.ENOTFOUND)
	_, err = b.store.Replay(ctxB, other.ID, e.ID, theirDest.ID, 0)
	wantCode(t, "Replay of another tenant's event to its destination", err, sluice.ENOTFOUND)
	if ds, _ := b.store.Deliveries(b.ctx, ten.ID, e.ID); len(ds) != 5 {
		t.Fatalf("refused replays left %d deliveries, want 5", len(ds))
	}

	// Gone after an erasure.
	erased := b.event(t, ctx, ten.ID, "invoice.paid")
	if err := b.store.ErasePayload(ctx, ten.ID, erased.ID); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.Replay(ctx, ten.ID, erased.ID, "", 0)
	wantCode(t, "Replay after ErasePayload", err, sluice.EGONE)
	_, err = b.store.Replay(ctx, ten.ID, erased.ID, all.ID, 0)
	wantCode(t, "Replay to one destination after ErasePayload", err, sluice.EGONE)

	// Gone at expiry, before and after the purge.
	expiring := b.event(t, ctx, ten.ID, "invoice.paid")
	b.clock.Advance(time.Hour)
	_, err = b.store.Replay(ctx, ten.ID, expiring.ID, "", 0)
	wantCode(t, "Replay at expiry", err, sluice.EGONE)
	if _, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 100); err != nil {
		t.Fatal(err)
	}
	_, err = b.store.Replay(ctx, ten.ID, expiring.ID, "", 0)
	wantCode(t, "Replay after the purge", err, sluice.EGONE)
	for _, id := range []string{erased.ID, expiring.ID} {
		if ds, _ := b.store.Deliveries(b.ctx, ten.ID, id); len(ds) != 2 {
			t.Fatalf("a refused replay added deliveries: %d, want 2", len(ds))
		}
	}
}

func testPurgeExpiredPayloads(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 10); err != nil || n != 0 {
		t.Fatalf("PurgeExpiredPayloads on an empty store = %d, %v", n, err)
	}

	// Two events with history: one failed once and waits for a retry, one
	// was delivered.
	retrying := b.subjectEvent(t, ten.ID, `{"retrying":true}`, time.Minute)
	delivered := b.subjectEvent(t, ten.ID, `{"delivered":true}`, time.Minute)
	for _, c := range b.claim(t, 10) {
		if c.Delivery.EventID == delivered.ID {
			recordSuccess(t, b, c)
			continue
		}
		err := b.record(&sluice.AttemptResult{
			Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID, DeliveryID: c.Delivery.ID,
				EventID: retrying.ID, DestinationID: d.ID, Number: 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500,
				Error: "http_status", At: b.clock.Now()},
			Status: sluice.DeliveryPending, NextAttemptAt: b.clock.Now().Add(5 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
	}
	first := []string{retrying.ID, delivered.ID}
	for range 3 {
		first = append(first, b.subjectEvent(t, ten.ID, `{}`, time.Minute).ID)
	}
	var second []string
	for range 3 {
		second = append(second, b.subjectEvent(t, ten.ID, `{}`, 2*time.Minute).ID)
	}
	late := b.subjectEvent(t, ten.ID, `{"late":true}`, time.Hour)

	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 10); err != nil || n != 0 {
		t.Fatalf("PurgeExpiredPayloads before any expiry = %d, %v", n, err)
	}
	b.clock.Advance(time.Minute)
	var counts []int
	for {
		n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 2)
		if err != nil {
			t.Fatalf("PurgeExpiredPayloads: %v", err)
		}
		counts = append(counts, n)
		if n == 0 {
			break
		}
		if len(counts) > 10 {
			t.Fatalf("PurgeExpiredPayloads does not end: %v", counts)
		}
	}
	if want := []int{2, 2, 1, 0}; !slices.Equal(counts, want) {
		t.Fatalf("batches of 2 purged %v, want %v", counts, want)
	}
	for _, id := range first {
		wantPayloadGone(t, b, ten.ID, id, sluice.PayloadExpired)
		e, err := b.store.Event(b.ctx, ten.ID, id)
		if err != nil || e.Type != "customer.updated" || e.ReceivedAt.IsZero() {
			t.Fatalf("metadata after the purge = %+v, %v", e, err)
		}
	}
	if got := deliveryStatuses(t, b, ten.ID, retrying.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryExpired}) {
		t.Fatalf("retrying event's deliveries = %v, want expired", got)
	}
	if e, _ := b.store.Event(b.ctx, ten.ID, retrying.ID); e.Status != sluice.EventCancelled {
		t.Fatalf("retrying event status %q, want cancelled (expired, not failed)", e.Status)
	}
	if as, err := b.store.Attempts(b.ctx, ten.ID, retrying.ID); err != nil || len(as) != 1 || as[0].HTTPStatus != 500 {
		t.Fatalf("attempts after the purge = %d, %v, want the 1 kept", len(as), err)
	}
	if got := deliveryStatuses(t, b, ten.ID, delivered.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliverySucceeded}) {
		t.Fatalf("delivered event's deliveries = %v, want succeeded", got)
	}
	if e, _ := b.store.Event(b.ctx, ten.ID, delivered.ID); e.Status != sluice.EventDelivered {
		t.Fatalf("delivered event status %q, want delivered", e.Status)
	}
	for _, id := range first[2:] {
		if got := deliveryStatuses(t, b, ten.ID, id); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryExpired}) {
			t.Fatalf("expired event's deliveries = %v, want expired", got)
		}
	}
	for _, id := range second {
		wantPayloadKept(t, b, ten.ID, id, `{}`)
	}

	b.clock.Advance(time.Minute)
	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 10); err != nil || n != 3 {
		t.Fatalf("second expiry purged %d, %v, want 3", n, err)
	}
	for _, id := range second {
		wantPayloadGone(t, b, ten.ID, id, sluice.PayloadExpired)
	}
	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 10); err != nil || n != 0 {
		t.Fatalf("nothing due purged %d, %v", n, err)
	}
	wantPayloadKept(t, b, ten.ID, late.ID, `{"late":true}`)
	if got := deliveryStatuses(t, b, ten.ID, late.ID); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryPending}) {
		t.Fatalf("unexpired event's deliveries = %v, want pending", got)
	}
}

// Events go at their tenant's metadata retention: an hour for this one,
// the server's year for the other.
func testPurgeMetadata(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	ten.Retention.Metadata = time.Hour
	if err := b.store.UpdateTenant(ctx, ten); err != nil {
		t.Fatal(err)
	}
	b.destination(t, ctx, ten.ID, "*")
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctxB, other.ID, "*")
	start := b.clock.Now()
	theirs := b.event(t, ctxB, other.ID, "x.y")
	var old []string
	for range 3 {
		old = append(old, b.subjectEvent(t, ten.ID, `{"old":true}`, 30*24*time.Hour, subjectAda).ID)
	}
	for _, c := range b.claim(t, 10) {
		recordSuccess(t, b, c)
	}
	if err := b.store.ErasePayload(ctx, ten.ID, old[0]); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(time.Hour)
	cutoff := b.clock.Now()
	var fresh []string
	for range 2 {
		fresh = append(fresh, b.subjectEvent(t, ten.ID, `{"fresh":true}`, 30*24*time.Hour, subjectAda).ID)
	}
	auditBefore, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}

	if n, err := b.store.PurgeMetadata(b.ctx, start.Add(time.Hour), 10); err != nil || n != 0 {
		t.Fatalf("PurgeMetadata before anything is due = %d, %v", n, err)
	}
	var counts []int
	for {
		n, err := b.store.PurgeMetadata(b.ctx, cutoff.Add(time.Hour), 2)
		if err != nil {
			t.Fatalf("PurgeMetadata: %v", err)
		}
		counts = append(counts, n)
		if n == 0 {
			break
		}
		if len(counts) > 10 {
			t.Fatalf("PurgeMetadata does not end: %v", counts)
		}
	}
	if want := []int{2, 1, 0}; !slices.Equal(counts, want) {
		t.Fatalf("batches of 2 purged %v, want %v", counts, want)
	}
	for _, id := range old {
		_, err := b.store.Event(b.ctx, ten.ID, id)
		wantCode(t, "Event after PurgeMetadata", err, sluice.ENOTFOUND)
		_, err = b.store.Payload(b.ctx, ten.ID, id)
		wantCode(t, "Payload after PurgeMetadata", err, sluice.ENOTFOUND)
		_, err = b.store.Deliveries(b.ctx, ten.ID, id)
		wantCode(t, "Deliveries after PurgeMetadata", err, sluice.ENOTFOUND)
		_, err = b.store.Attempts(b.ctx, ten.ID, id)
		wantCode(t, "Attempts after PurgeMetadata", err, sluice.ENOTFOUND)
	}
	list, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{})
	// The newer events' new shape was announced as schema drift: those
	// notices are newer too.
	list = slices.DeleteFunc(list, func(e *sluice.Event) bool { return sluice.IsNotice(e.Type) })
	if err != nil || len(list) != 2 {
		t.Fatalf("events after PurgeMetadata = %d, %v, want the 2 newer", len(list), err)
	}
	for _, id := range fresh {
		wantPayloadKept(t, b, ten.ID, id, `{"fresh":true}`)
		if got := deliveryStatuses(t, b, ten.ID, id); !slices.Equal(got, []sluice.DeliveryStatus{sluice.DeliveryPending}) {
			t.Fatalf("newer event's deliveries = %v, want pending", got)
		}
	}
	if _, err := b.store.Event(b.ctx, other.ID, theirs.ID); err != nil {
		t.Fatalf("another tenant's event, within its retention, after PurgeMetadata: %v", err)
	}
	auditAfter, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 500})
	if err != nil || len(auditAfter) != len(auditBefore) {
		t.Fatalf("audit entries after PurgeMetadata = %d, %v, want the %d kept", len(auditAfter), err, len(auditBefore))
	}
	if !hasAudit(t, b, ten.ID, "event.payload_erase", old[0], "") {
		t.Fatalf("the purged event's audit entry is gone")
	}

	// The purged events' subject links went with them.
	if got, _ := b.store.SubjectPayloads(b.ctx, ten.ID, subjectAda); len(got) != 2 {
		t.Fatalf("SubjectPayloads after PurgeMetadata = %d, want the 2 newer", len(got))
	}
	er, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil || er.EventsMatched != 2 || er.PayloadsErased != 2 {
		t.Fatalf("EraseSubject after PurgeMetadata = %+v, %v, want 2 matched (the newer only)", er, err)
	}
}

// Everything sealed at rest reads back exactly as it was stored.
func testSealingRoundTrip(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")

	// Destination URL and secret, through every read path.
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "d",
		URL: "https://hooks.example.com/in/%C3%A4?token=abc&x=1", EventTypes: []string{"*"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	theirs := b.destination(t, ctxB, other.ID, "*")
	got, err := b.store.Destination(b.ctx, ten.ID, d.ID)
	if err != nil || got.URL != d.URL || got.Secret != d.Secret {
		t.Fatalf("Destination: URL or secret differ (err %v)", err)
	}
	got.URL, got.Secret = "https://other.example.com/v2/hooks", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
	if err := b.store.UpdateDestination(ctx, got); err != nil {
		t.Fatal(err)
	}
	list, _, err := b.store.Destinations(b.ctx, ten.ID, sluice.Page{})
	if err != nil || len(list) != 1 || list[0].URL != got.URL || list[0].Secret != got.Secret {
		t.Fatalf("Destinations after update: URL or secret differ (err %v)", err)
	}
	if t2, _ := b.store.Destination(b.ctx, other.ID, theirs.ID); t2.URL != theirs.URL || t2.Secret != theirs.Secret {
		t.Fatalf("other tenant's destination: URL or secret differ")
	}

	// Source credentials of each kind.
	sources := []*sluice.Source{
		{Verification: sluice.Verification{Type: sluice.VerifyToken, Secret: "tok-ü-123 ", Header: "X-Token"}},
		{Verification: sluice.Verification{Type: sluice.VerifyBasic, Username: "user", Password: "p:ä ss"}},
		{Verification: sluice.Verification{Type: sluice.VerifyStripe, Secret: "whsec_stripe"}},
	}
	wantVerification := map[string]sluice.Verification{}
	for _, s := range sources {
		s.ID, s.TenantID, s.Name, s.EventTypePath, s.EventIDPath, s.Enabled =
			sluice.NewID(sluice.PrefixSource), ten.ID, "s", "type", "id", true
		if err := b.store.CreateSource(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := b.store.Source(b.ctx, ten.ID, s.ID)
		if err != nil || got.Verification != s.Verification {
			t.Fatalf("Source(%s): verification differs (err %v)", s.Verification.Type, err)
		}
		if in, err := b.store.IngestSource(b.ctx, s.ID); err != nil || in.Verification != s.Verification {
			t.Fatalf("IngestSource(%s): verification differs (err %v)", s.Verification.Type, err)
		}
		got.Verification.Secret, got.Verification.Password = got.Verification.Secret+"-new", got.Verification.Password+"-new"
		if err := b.store.UpdateSource(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _ := b.store.Source(b.ctx, ten.ID, s.ID); again.Verification != got.Verification {
			t.Fatalf("Source(%s) after update: verification differs", s.Verification.Type)
		}
		wantVerification[s.ID] = got.Verification
	}
	srcList, _, err := b.store.Sources(b.ctx, ten.ID, sluice.Page{})
	if err != nil || len(srcList) != len(sources) {
		t.Fatalf("Sources = %d, %v", len(srcList), err)
	}
	for _, s := range srcList {
		if s.Verification != wantVerification[s.ID] {
			t.Fatalf("Sources: %s credentials differ", s.Verification.Type)
		}
	}

	// Payload body (every byte value, and empty) and headers.
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	payloads := []sluice.Payload{
		{Body: binary, ContentType: "application/octet-stream",
			Headers: http.Header{"X-Multi": {"a", "b"}, "X-Empty": {""}, "User-Agent": {"Stripe/1.0 (+https://stripe.com)"}}},
		{Body: []byte{}, ContentType: "application/json", Headers: http.Header{}},
		{Body: []byte(`{"email":"ada@example.com"}`), ContentType: "application/json; charset=utf-8"},
	}
	for i, p := range payloads {
		in := b.newEvent(ten.ID, "x.y", "")
		in.Payload.Body, in.Payload.ContentType, in.Payload.Headers = p.Body, p.ContentType, p.Headers
		in.Subjects = []sluice.Subject{subjectBob}
		e, _, err := b.create(ctx, in, 0)
		if err != nil {
			t.Fatal(err)
		}
		back, err := b.store.Payload(b.ctx, ten.ID, e.ID)
		if err != nil {
			t.Fatalf("Payload %d: %v", i, err)
		}
		if !bytes.Equal(back.Body, p.Body) || back.ContentType != p.ContentType || len(back.Headers) != len(p.Headers) ||
			(len(p.Headers) > 0 && !reflect.DeepEqual(back.Headers, p.Headers)) {
			t.Fatalf("Payload %d: body, content type or headers differ", i)
		}
	}
	exported, err := b.store.SubjectPayloads(b.ctx, ten.ID, subjectBob)
	if err != nil || len(exported) != len(payloads) {
		t.Fatalf("SubjectPayloads = %d, %v", len(exported), err)
	}
	for i, sp := range exported {
		if !bytes.Equal(sp.Payload.Body, payloads[i].Body) || sp.IntegrityError {
			t.Fatalf("SubjectPayloads[%d]: body differs", i)
		}
	}
	claims := b.claim(t, 10)
	if len(claims) != len(payloads) {
		t.Fatalf("claimed %d, want %d", len(claims), len(payloads))
	}
	for _, c := range claims {
		if c.Destination.URL != got.URL || c.Destination.Secret != got.Secret {
			t.Fatalf("claim: destination URL or secret differ")
		}
		if !slices.ContainsFunc(payloads, func(p sluice.Payload) bool { return bytes.Equal(p.Body, c.Body) }) {
			t.Fatalf("claim: body differs from every stored payload")
		}
	}
}
