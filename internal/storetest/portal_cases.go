package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// portalCases are the cases of customers and their portal sessions.
var portalCases = []testCase{
	{name: "CustomerRouting", fn: testCustomerRouting},
	{name: "SendTestEvent", fn: testSendTestEvent},
	{name: "PortalSessionSignsInOnce", fn: testPortalSessionSignsInOnce},
	{name: "PortalSessionExpiry", fn: testPortalSessionExpiry},
	{name: "PortalSessionEnds", fn: testPortalSessionEnds},
}

// customerDestination creates an enabled destination of the tenant's
// customer (none: the tenant's own) for the types.
func (b *bundle) customerDestination(t *testing.T, ctx context.Context, tenantID, customer string, types ...string) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: "d " + customer,
		URL: "https://example.com/hook", EventTypes: types, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Enabled: true, Customer: customer}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return d
}

// deliveredTo returns the ids of the destinations the event has
// deliveries to, sorted.
func (b *bundle) deliveredTo(t *testing.T, tenantID, eventID string) []string {
	t.Helper()
	ds, err := b.store.Deliveries(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatalf("Deliveries: %v", err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.DestinationID)
	}
	slices.Sort(ids)
	return ids
}

func sortedIDs(ds ...*sluice.Destination) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	slices.Sort(ids)
	return ids
}

// A customer's destination gets that customer's events only; the tenant's
// own gets every customer's; a named replay to another customer's
// destination is refused. The customer is kept with the destination and
// the event, and both can be listed by it.
func testCustomerRouting(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	acme := b.customerDestination(t, ctx, ten.ID, "cus_acme", "order.*")
	globex := b.customerDestination(t, ctx, ten.ID, "cus_globex", "order.*")
	own := b.customerDestination(t, ctx, ten.ID, "", "*")

	publish := func(customer string) *sluice.Event {
		ne := b.newEvent(ten.ID, "order.paid", "")
		ne.Event.Customer = customer
		e, _, err := b.create(ctx, ne, 0)
		if err != nil {
			t.Fatalf("CreateEvent(%q): %v", customer, err)
		}
		return e
	}
	forAcme, forNone := publish("cus_acme"), publish("")
	if got, want := b.deliveredTo(t, ten.ID, forAcme.ID), sortedIDs(acme, own); !slices.Equal(got, want) {
		t.Errorf("acme's event went to %v, want acme's and the tenant's own %v", got, want)
	}
	if got, want := b.deliveredTo(t, ten.ID, forNone.ID), sortedIDs(own); !slices.Equal(got, want) {
		t.Errorf("an event of no customer went to %v, want the tenant's own only %v", got, want)
	}
	if got, err := b.store.Event(b.ctx, ten.ID, forAcme.ID); err != nil || got.Customer != "cus_acme" {
		t.Errorf("Event = %+v, %v; want customer cus_acme", got, err)
	}
	events, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Customer: "cus_acme"})
	if err != nil || len(events) != 1 || events[0].ID != forAcme.ID {
		t.Errorf("Events(customer cus_acme) = %d events, %v; want acme's one", len(events), err)
	}

	got, err := b.store.Destination(b.ctx, ten.ID, globex.ID)
	if err != nil || got.Customer != "cus_globex" {
		t.Fatalf("Destination = %+v, %v; want customer cus_globex", got, err)
	}
	listed, _, err := b.store.CustomerDestinations(b.ctx, ten.ID, "cus_acme", sluice.Page{})
	if err != nil || len(listed) != 1 || listed[0].ID != acme.ID || listed[0].URL != acme.URL {
		t.Errorf("CustomerDestinations(cus_acme) = %v, %v; want acme's one, opened", listed, err)
	}
	if listed, _, err := b.store.CustomerDestinations(b.ctx, ten.ID, "", sluice.Page{}); err != nil || len(listed) != 0 {
		t.Errorf("CustomerDestinations(no customer) = %v, %v; want none", listed, err)
	}
	wantCode(t, "CustomerDestinations(not an id)", func() error {
		_, _, err := b.store.CustomerDestinations(b.ctx, ten.ID, "ada@example.com", sluice.Page{})
		return err
	}(), sluice.EINVALID)
	other, _ := b.tenant(t, "b")
	if listed, _, err := b.store.CustomerDestinations(b.ctx, other.ID, "cus_acme", sluice.Page{}); err != nil || len(listed) != 0 {
		t.Errorf("another tenant's CustomerDestinations(cus_acme) = %v, %v; want none", listed, err)
	}

	wantCode(t, "Replay of acme's event to globex's destination", func() error {
		_, err := b.store.Replay(ctx, ten.ID, forAcme.ID, globex.ID, 0)
		return err
	}(), sluice.ECONFLICT)
	replayed, err := b.store.Replay(ctx, ten.ID, forAcme.ID, "", 0)
	if err != nil {
		t.Fatalf("Replay to all: %v", err)
	}
	var to []string
	for _, d := range replayed {
		to = append(to, d.DestinationID)
	}
	slices.Sort(to)
	if want := sortedIDs(acme, own); !slices.Equal(to, want) {
		t.Errorf("Replay to all went to %v, want %v", to, want)
	}

	bad := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, URL: "https://example.com/x",
		EventTypes: []string{"*"}, Customer: "has space"}
	wantCode(t, "Validate(customer with a space)", bad.Validate(), sluice.EINVALID)
}

// A test event goes to its one destination, whatever the types it and the
// others subscribe to, for its customer, and is audited; the data map
// learns nothing of it.
func testSendTestEvent(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	acme := b.customerDestination(t, ctx, ten.ID, "cus_acme", "order.paid")
	b.customerDestination(t, ctx, ten.ID, "", "*")
	b.customerDestination(t, ctx, ten.ID, "", sluice.TestEventType)
	e, err := b.store.SendTestEvent(ctx, ten.ID, acme.ID, 0)
	if err != nil {
		t.Fatalf("SendTestEvent: %v", err)
	}
	if e.Type != sluice.TestEventType || e.Customer != "cus_acme" || e.Status != sluice.EventPending {
		t.Errorf("test event = %+v, want %s for cus_acme, pending", e, sluice.TestEventType)
	}
	if got := b.deliveredTo(t, ten.ID, e.ID); !slices.Equal(got, []string{acme.ID}) {
		t.Errorf("test event went to %v, want %s alone", got, acme.ID)
	}
	p, err := b.store.Payload(b.ctx, ten.ID, e.ID)
	if err != nil || !json.Valid(p.Body) || !bytes.Contains(p.Body, []byte(acme.ID)) {
		t.Errorf("test payload %s, %v; want JSON naming the destination", p.Body, err)
	}
	if obs, err := b.store.Observations(b.ctx, ten.ID); err != nil || len(obs) != 0 {
		t.Errorf("Observations after a test event = %d, %v; want none: it teaches the data map nothing", len(obs), err)
	}
	entries, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{Action: "destination.test"}, sluice.Page{})
	if err != nil || len(entries) != 1 || entries[0].ResourceID != acme.ID {
		t.Errorf("audit destination.test = %v, %v; want one of %s", entries, err, acme.ID)
	}
	other, octx := b.tenant(t, "b")
	wantCode(t, "SendTestEvent(another tenant's destination)", func() error {
		_, err := b.store.SendTestEvent(octx, other.ID, acme.ID, 0)
		return err
	}(), sluice.ENOTFOUND)
}

// newPortal creates a portal session of the tenant's customer whose link
// lasts linkTTL, and returns it with its link's token.
func (b *bundle) newPortal(t *testing.T, ctx context.Context, tenantID, customer string, linkTTL time.Duration) (string, *sluice.PortalSession) {
	t.Helper()
	token := sluice.NewToken()
	p := &sluice.PortalSession{TenantID: tenantID, Scope: sluice.PortalScope{Customer: customer},
		LinkHash: sluice.HashToken(token), LinkTTL: linkTTL, TTL: time.Hour}
	if err := b.store.CreatePortalSession(ctx, p); err != nil {
		t.Fatalf("CreatePortalSession: %v", err)
	}
	return token, p
}

// signIn uses a portal link with a fresh cookie id and returns the id
// and the session, or the error.
func (b *bundle) signIn(store sluice.Store, token string) (string, *sluice.PortalSession, error) {
	id := sluice.NewToken()
	p, err := store.SignInPortal(b.ctx, sluice.HashToken(token), sluice.HashSessionID(id), "csrf-"+id)
	return id, p, err
}

// A portal link signs in once, in any process sharing the database, and
// the session reads back with its scope; the link's creation and use are
// audited, the use with the session as its actor.
func testPortalSessionSignsInOnce(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	token, p := b.newPortal(t, ctx, ten.ID, "cus_acme", 5*time.Minute)
	if !sluice.ValidID(p.ID) || p.CreatedBy != sluice.ActorFrom(ctx).KeyID {
		t.Errorf("created portal session id %q by %q, want an id and the key", p.ID, p.CreatedBy)
	}
	other := b.another(t)
	id, got, err := b.signIn(other, token)
	if err != nil {
		t.Fatalf("SignInPortal: %v", err)
	}
	now := b.clock.Now().Truncate(time.Millisecond)
	if got.ID != p.ID || got.TenantID != ten.ID || got.Scope != p.Scope || !got.SignedInAt.Equal(now) ||
		!got.ExpiresAt.Equal(now.Add(time.Hour)) || got.CSRF != "csrf-"+id {
		t.Errorf("signed in = %+v, want %s of cus_acme signed in now for an hour", got, p.ID)
	}
	for _, store := range []sluice.Store{b.store, other} {
		read, err := store.PortalSession(b.ctx, sluice.HashSessionID(id))
		if err != nil || read.ID != p.ID || read.Scope.Customer != "cus_acme" || read.Scope.Payloads {
			t.Errorf("PortalSession = %+v, %v; want %s", read, err, p.ID)
		}
	}
	wantCode(t, "SignInPortal with a used link", func() error { _, _, err := b.signIn(b.store, token); return err }(), sluice.ENOTFOUND)
	wantCode(t, "SignInPortal with an unknown link", func() error { _, _, err := b.signIn(b.store, "nope"); return err }(), sluice.ENOTFOUND)
	wantCode(t, "PortalSession by the link", func() error {
		_, err := b.store.PortalSession(b.ctx, sluice.HashSessionID(token))
		return err
	}(), sluice.ENOTFOUND)

	for _, tc := range []struct {
		name string
		p    sluice.PortalSession
	}{
		{"no customer", sluice.PortalSession{}},
		{"an e-mail as customer", sluice.PortalSession{Scope: sluice.PortalScope{Customer: "ada@example.com"}}},
		{"a link for a day", sluice.PortalSession{Scope: sluice.PortalScope{Customer: "c"}, LinkTTL: 24 * time.Hour}},
		{"no session TTL", sluice.PortalSession{Scope: sluice.PortalScope{Customer: "c"}, LinkTTL: time.Minute}},
		{"no link hash", sluice.PortalSession{Scope: sluice.PortalScope{Customer: "c"}, LinkTTL: time.Minute, TTL: time.Hour}},
	} {
		tc.p.TenantID = ten.ID
		wantCode(t, "CreatePortalSession("+tc.name+")", b.store.CreatePortalSession(ctx, &tc.p), sluice.EINVALID)
	}

	entries, _, err := b.store.AuditEntries(b.ctx, ten.ID, sluice.AuditFilter{ResourceID: p.ID}, sluice.Page{})
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit of %s = %v, %v; want create and sign-in", p.ID, entries, err)
	}
	if e := entries[0]; e.Action != "portal_session.sign_in" || e.ActorKeyID != p.ID {
		t.Errorf("newest entry %s by %s, want portal_session.sign_in by the session", e.Action, e.ActorKeyID)
	}
	if e := entries[1]; e.Action != "portal_session.create" || e.ActorKeyID != p.CreatedBy || len(e.Changes) == 0 {
		t.Errorf("oldest entry %s by %s with %v, want portal_session.create by the key with its scope", e.Action, e.ActorKeyID, e.Changes)
	}
}

// A link works until the millisecond it expires; a session reads until the
// millisecond it expires and not from then.
func testPortalSessionExpiry(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	start := b.clock.Now()
	late, _ := b.newPortal(t, ctx, ten.ID, "c", time.Minute)
	b.clock.Set(start.Add(time.Minute))
	wantCode(t, "SignInPortal at the link's expiry", func() error { _, _, err := b.signIn(b.store, late); return err }(), sluice.ENOTFOUND)

	token, _ := b.newPortal(t, ctx, ten.ID, "c", time.Minute)
	b.clock.Set(start.Add(time.Minute + 59*time.Second))
	id, p, err := b.signIn(b.store, token)
	if err != nil {
		t.Fatalf("SignInPortal a second before the link's expiry: %v", err)
	}
	read := func() error { _, err := b.store.PortalSession(b.ctx, sluice.HashSessionID(id)); return err }
	b.clock.Set(p.ExpiresAt.Add(-time.Millisecond))
	if err := read(); err != nil {
		t.Errorf("PortalSession a millisecond before its expiry: %v", err)
	}
	b.clock.Set(p.ExpiresAt)
	wantCode(t, "PortalSession at its expiry", read(), sluice.ENOTFOUND)
}

// A portal session ends when the tenant deletes it (ENOTFOUND for another
// tenant), and with its tenant. Its flash is taken once.
func testPortalSessionEnds(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	token, p := b.newPortal(t, ctx, ten.ID, "c", time.Minute)
	id, _, err := b.signIn(b.store, token)
	if err != nil {
		t.Fatalf("SignInPortal: %v", err)
	}
	hash := sluice.HashSessionID(id)
	if err := b.store.SetPortalFlash(b.ctx, hash, "Endpoint created."); err != nil {
		t.Fatalf("SetPortalFlash: %v", err)
	}
	if got, err := b.store.PortalSession(b.ctx, hash); err != nil || got.Flash != "Endpoint created." {
		t.Errorf("PortalSession flash = %+v, %v", got, err)
	}
	for want := range []string{"Endpoint created.", ""} {
		if got, err := b.store.TakePortalFlash(b.ctx, hash); err != nil || got != []string{"Endpoint created.", ""}[want] {
			t.Errorf("TakePortalFlash #%d = %q, %v", want+1, got, err)
		}
	}
	other, octx := b.tenant(t, "b")
	wantCode(t, "DeletePortalSession(another tenant's)", b.store.DeletePortalSession(octx, other.ID, p.ID), sluice.ENOTFOUND)
	if err := b.store.DeletePortalSession(ctx, ten.ID, p.ID); err != nil {
		t.Fatalf("DeletePortalSession: %v", err)
	}
	wantCode(t, "PortalSession after its deletion", func() error { _, err := b.store.PortalSession(b.ctx, hash); return err }(), sluice.ENOTFOUND)
	wantCode(t, "SetPortalFlash after its deletion", b.store.SetPortalFlash(b.ctx, hash, "x"), sluice.ENOTFOUND)

	token, _ = b.newPortal(t, octx, other.ID, "c", time.Minute)
	id, _, err = b.signIn(b.store, token)
	if err != nil {
		t.Fatalf("SignInPortal: %v", err)
	}
	_, opctx := b.operator(t)
	if err := b.store.DeleteTenant(opctx, other.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	wantCode(t, "PortalSession after its tenant's deletion", func() error {
		_, err := b.store.PortalSession(b.ctx, sluice.HashSessionID(id))
		return err
	}(), sluice.ENOTFOUND)
}
