package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// listenCases are the cases of listen destinations: deliveries streamed
// to a connected `sluice listen` rather than posted by the dispatcher.
var listenCases = []testCase{
	{name: "ListenDestination", fn: testListenDestination},
	{name: "ListenClaimsOnlyItsOwn", fn: testListenClaimsOnlyItsOwn},
	{name: "ListenRecordsAttempts", fn: testListenRecordsAttempts},
	{name: "ListenKeepAlive", fn: testListenKeepAlive},
	{name: "ListenIsolation", fn: testListenIsolation},
	{name: "PurgeIdleListeners", fn: testPurgeIdleListeners},
}

// listenTTL is how long the cases keep listen destinations alive.
const listenTTL = 2 * time.Minute

// listener creates a listen destination of the tenant for the types,
// alive for listenTTL.
func (b *bundle) listener(t *testing.T, ctx context.Context, tenantID string, types ...string) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: "listen",
		EventTypes: types, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true,
		Kind: sluice.KindListen, ListenUntil: b.clock.Now().Add(listenTTL)}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return d
}

// claimListen claims up to limit deliveries of the listen destination due
// at the clock's time, keeping it alive for listenTTL.
func (b *bundle) claimListen(tenantID, destinationID string, limit int) ([]*sluice.Claim, error) {
	now := b.clock.Now()
	return b.store.ClaimListen(b.ctx, sluice.ListenClaimRequest{TenantID: tenantID, DestinationID: destinationID,
		Now: now, Limit: limit, Lease: 30 * time.Second, KeepUntil: now.Add(listenTTL)})
}

// A listen destination is stored with its kind and keep-alive, which an
// update leaves as they are; a destination of no kind is an http one.
func testListenDestination(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	plain := b.destination(t, ctx, ten.ID, "*")
	if plain.Kind != sluice.KindHTTP || !plain.ListenUntil.IsZero() {
		t.Fatalf("a destination of no kind was stored as %q until %v, want http", plain.Kind, plain.ListenUntil)
	}
	l := b.listener(t, ctx, ten.ID, "order.*")
	got, err := b.store.Destination(b.ctx, ten.ID, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Listening() || !got.ListenUntil.Equal(l.ListenUntil) || got.URL != "" || got.Secret != l.Secret {
		t.Fatalf("listen destination read back as %+v", got)
	}
	got.Name = "renamed"
	if err := b.store.UpdateDestination(ctx, got); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.store.Destination(b.ctx, ten.ID, l.ID); !again.Listening() || again.Name != "renamed" ||
		!again.ListenUntil.Equal(l.ListenUntil) {
		t.Fatalf("after an update = %+v, want the kind and keep-alive as they were", again)
	}
	bad := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "x",
		EventTypes: []string{"*"}, Secret: l.Secret, Enabled: true, Kind: sluice.KindListen}
	wantCode(t, "a listen destination with no keep-alive", b.store.CreateDestination(ctx, bad), sluice.EINVALID)
	bad.Kind = "carrier-pigeon"
	wantCode(t, "an unknown kind", b.store.CreateDestination(ctx, bad), sluice.EINVALID)
}

// The dispatcher never claims a listen destination's deliveries, at birth
// or later, and ClaimListen claims only the listen destination's.
func testListenClaimsOnlyItsOwn(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	plain := b.destination(t, ctx, ten.ID, "*")
	l := b.listener(t, ctx, ten.ID, "order.*")
	other := b.listener(t, ctx, ten.ID, "*")

	ne := b.newEvent(ten.ID, "order.created", "")
	ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.Claims) != 1 || created.Claims[0].Delivery.DestinationID != plain.ID || !created.Unclaimed {
		t.Fatalf("created %d claimed at birth (unclaimed %v), want only the plain destination's", len(created.Claims),
			created.Unclaimed)
	}
	b.event(t, ctx, ten.ID, "user.created") // to plain and other, not to l
	for _, c := range b.claim(t, 10) {
		if c.Delivery.DestinationID != plain.ID {
			t.Fatalf("ClaimDue took a delivery to %s, a listen destination", c.Delivery.DestinationID)
		}
	}

	claims, err := b.claimListen(ten.ID, l.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 1 {
		t.Fatalf("ClaimListen took %d, want the one order event", len(claims))
	}
	c := claims[0]
	if c.Delivery.EventID != ne.Event.ID || c.Delivery.DestinationID != l.ID || c.EventType != "order.created" ||
		string(c.Body) != `{"n":1}` || c.ContentType != "application/json" || c.Destination.Secret != l.Secret ||
		!c.Destination.Listening() {
		t.Fatalf("listen claim = %+v", c)
	}
	if again, _ := b.claimListen(ten.ID, l.ID, 10); len(again) != 0 {
		t.Fatalf("claimed %d again within the lease", len(again))
	}
	if theirs, _ := b.claimListen(ten.ID, other.ID, 10); len(theirs) != 2 {
		t.Fatalf("the other listen destination claimed %d, want its 2", len(theirs))
	}
	b.clock.Advance(31 * time.Second)
	if again, _ := b.claimListen(ten.ID, l.ID, 10); len(again) != 1 || again[0].Delivery.ID != c.Delivery.ID {
		t.Fatalf("after the lease claimed %v, want the delivery again", claimedIDs(again))
	}
	wantCode(t, "ClaimListen of an http destination", func() error {
		_, err := b.claimListen(ten.ID, plain.ID, 10)
		return err
	}(), sluice.ENOTFOUND)

	// Off is off: a disabled listen destination's deliveries wait.
	l.Enabled, l.DisabledReason = false, sluice.DisabledManual
	if err := b.store.UpdateDestination(ctx, l); err != nil {
		t.Fatal(err)
	}
	b.event(t, ctx, ten.ID, "order.paid")
	b.clock.Advance(31 * time.Second)
	if got, _ := b.claimListen(ten.ID, l.ID, 10); len(got) != 0 {
		t.Fatalf("a disabled listen destination claimed %d", len(got))
	}
}

// An attempt reported by a listener is recorded like the dispatcher's:
// ListenDeliveries gives what recording it takes, and RecordAttempts
// moves the delivery on and refuses an attempt of one no longer claimed.
func testListenRecordsAttempts(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	l := b.listener(t, ctx, ten.ID, "*")
	e := b.event(t, ctx, ten.ID, "x.y")
	claims, err := b.claimListen(ten.ID, l.ID, 10)
	if err != nil || len(claims) != 1 {
		t.Fatalf("ClaimListen = %d, %v", len(claims), err)
	}
	id := claims[0].Delivery.ID
	got, err := b.store.ListenDeliveries(b.ctx, ten.ID, l.ID, []string{id, "dlv_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Delivery.ID != id || got[0].Delivery.EventID != e.ID || got[0].EventType != "x.y" ||
		got[0].Delivery.Attempts != 0 || got[0].Body != nil || got[0].Storage != "" {
		t.Fatalf("ListenDeliveries = %+v", got)
	}
	now := b.clock.Now()
	failed := &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: ten.ID,
		DeliveryID: id, EventID: e.ID, DestinationID: l.ID, Number: 1, Outcome: sluice.AttemptFailed, HTTPStatus: 500,
		Error: "http_status", Duration: 3 * time.Millisecond, At: now}, EventType: "x.y",
		Status: sluice.DeliveryPending, NextAttemptAt: now.Add(5 * time.Second)}
	if err := b.record(failed); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "the same attempt again", b.record(failed), sluice.ECONFLICT)
	b.clock.Advance(5 * time.Second)
	claims, err = b.claimListen(ten.ID, l.ID, 10)
	if err != nil || len(claims) != 1 || claims[0].Delivery.Attempts != 1 {
		t.Fatalf("the retry: ClaimListen = %+v, %v", claims, err)
	}
	ok := *failed
	ok.Attempt.ID, ok.Attempt.Number, ok.Attempt.Outcome, ok.Attempt.HTTPStatus, ok.Attempt.Error =
		sluice.NewID(sluice.PrefixAttempt), 2, sluice.AttemptSucceeded, 204, ""
	ok.Status, ok.NextAttemptAt = sluice.DeliverySucceeded, time.Time{}
	if err := b.record(&ok); err != nil {
		t.Fatal(err)
	}
	attempts, err := b.store.Attempts(b.ctx, ten.ID, e.ID)
	if err != nil || len(attempts) != 2 || attempts[0].HTTPStatus != 500 || attempts[1].HTTPStatus != 204 ||
		attempts[1].DestinationID != l.ID {
		t.Fatalf("attempts = %+v, %v", attempts, err)
	}
	if ev, _ := b.store.Event(b.ctx, ten.ID, e.ID); ev.Status != sluice.EventDelivered {
		t.Fatalf("event status %q, want delivered", ev.Status)
	}
}

// Each claim keeps its listen destination alive, writing only when less
// than half the keep-alive is left; a destination that lapsed gets no new
// deliveries, and one claim brings it back.
func testListenKeepAlive(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	l := b.listener(t, ctx, ten.ID, "*")
	until := func() time.Time {
		t.Helper()
		d, err := b.store.Destination(b.ctx, ten.ID, l.ID)
		if err != nil {
			t.Fatal(err)
		}
		return d.ListenUntil
	}
	b.clock.Advance(30 * time.Second)
	if _, err := b.claimListen(ten.ID, l.ID, 10); err != nil {
		t.Fatal(err)
	}
	if got := until(); !got.Equal(l.ListenUntil) {
		t.Fatalf("with 90s of 120s left the keep-alive moved to %v", got)
	}
	b.clock.Advance(40 * time.Second)
	if _, err := b.claimListen(ten.ID, l.ID, 0); err != nil {
		t.Fatal(err)
	}
	if got, want := until(), b.clock.Now().Add(listenTTL); !got.Equal(want) {
		t.Fatalf("with 50s left the keep-alive is %v, want %v", got, want)
	}

	b.clock.Advance(listenTTL)
	lapsed := b.event(t, ctx, ten.ID, "x.y")
	if ds, _ := b.store.Deliveries(b.ctx, ten.ID, lapsed.ID); len(ds) != 0 {
		t.Fatalf("an event routed %d deliveries to a lapsed listen destination", len(ds))
	}
	if _, err := b.claimListen(ten.ID, l.ID, 10); err != nil {
		t.Fatal(err)
	}
	back := b.event(t, ctx, ten.ID, "x.y")
	if ds, _ := b.store.Deliveries(b.ctx, ten.ID, back.ID); len(ds) != 1 || ds[0].DestinationID != l.ID {
		t.Fatalf("after its listener came back an event made %+v, want one delivery to it", ds)
	}
}

// Another tenant's listen destination is not found, however it is asked
// for, and its deliveries are never listed.
func testListenIsolation(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	l := b.listener(t, ctx, ten.ID, "*")
	theirs := b.listener(t, ctxB, other.ID, "*")
	b.event(t, ctx, ten.ID, "x.y")
	b.event(t, ctxB, other.ID, "x.y")
	_, err := b.claimListen(other.ID, l.ID, 10)
	wantCode(t, "ClaimListen of another tenant's", err, sluice.ENOTFOUND)
	_, err = b.store.ListenDeliveries(b.ctx, other.ID, l.ID, nil)
	wantCode(t, "ListenDeliveries of another tenant's", err, sluice.ENOTFOUND)

	mine, err := b.claimListen(ten.ID, l.ID, 10)
	if err != nil || len(mine) != 1 {
		t.Fatalf("ClaimListen = %d, %v", len(mine), err)
	}
	claimed, err := b.claimListen(other.ID, theirs.ID, 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("ClaimListen = %d, %v", len(claimed), err)
	}
	// Their delivery, asked for through my destination, is left out.
	got, err := b.store.ListenDeliveries(b.ctx, ten.ID, l.ID, []string{mine[0].Delivery.ID, claimed[0].Delivery.ID})
	if err != nil || len(got) != 1 || got[0].Delivery.ID != mine[0].Delivery.ID {
		t.Fatalf("ListenDeliveries = %v, %v; want mine only", claimedIDs(got), err)
	}
}

// The purge deletes the listen destinations left idle past their
// keep-alive, cancelling their deliveries and auditing it, and leaves the
// others.
func testPurgeIdleListeners(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	plain := b.destination(t, ctx, ten.ID, "*")
	idle := b.listener(t, ctx, ten.ID, "*")
	alive := b.listener(t, ctx, ten.ID, "*")
	e := b.event(t, ctx, ten.ID, "x.y")

	if n, err := b.store.PurgeIdleListeners(b.ctx, b.clock.Now(), 10); err != nil || n != 0 {
		t.Fatalf("PurgeIdleListeners before any is idle = %d, %v", n, err)
	}
	b.clock.Advance(listenTTL - 10*time.Second)
	if _, err := b.claimListen(ten.ID, alive.ID, 10); err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(10 * time.Second)
	n, err := b.store.PurgeIdleListeners(b.ctx, b.clock.Now(), 10)
	if err != nil || n != 1 {
		t.Fatalf("PurgeIdleListeners = %d, %v; want the idle one", n, err)
	}
	_, err = b.store.Destination(b.ctx, ten.ID, idle.ID)
	wantCode(t, "the idle listen destination", err, sluice.ENOTFOUND)
	for _, id := range []string{plain.ID, alive.ID} {
		if _, err := b.store.Destination(b.ctx, ten.ID, id); err != nil {
			t.Fatalf("destination %s after the purge: %v", id, err)
		}
	}
	ds, err := b.store.Deliveries(b.ctx, ten.ID, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if (d.DestinationID == idle.ID) != (d.Status == sluice.DeliveryCancelled) {
			t.Fatalf("delivery to %s is %s after the purge", d.DestinationID, d.Status)
		}
	}
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{})
	if err != nil || !slices.ContainsFunc(entries, func(a *sluice.AuditEntry) bool {
		return a.Action == "destination.delete" && a.ResourceID == idle.ID
	}) {
		t.Fatalf("audit = %v, %v; want the deletion of %s", entries, err, idle.ID)
	}
	if n, err := b.store.PurgeIdleListeners(b.ctx, b.clock.Now(), 10); err != nil || n != 0 {
		t.Fatalf("PurgeIdleListeners again = %d, %v", n, err)
	}
}
