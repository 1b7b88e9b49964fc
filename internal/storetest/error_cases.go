package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
)

// errorCases check that each driver maps its database's errors to the
// same codes, and reads in the same order where order decides what is
// claimed.
var errorCases = []testCase{
	{name: "UniqueViolationIsConflict", fn: testUniqueViolationIsConflict},
	{name: "ForeignKeyViolationIsNotFound", fn: testForeignKeyViolationIsNotFound},
	{name: "MissingRowIsNotFound", fn: testMissingRowIsNotFound},
	{name: "RoutesInIDOrder", fn: testRoutesInIDOrder},
	{name: "ClaimsInDueThenIDOrder", fn: testClaimsInDueThenIDOrder},
}

// A unique violation is ECONFLICT, whichever row meets it: a key whose
// token is taken, a second operator key, a row whose id is taken.
func testUniqueViolationIsConflict(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	token := sluice.HashToken(sluice.NewToken())
	key := func(operator bool) *sluice.APIKey {
		return &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: ten.ID, Name: "k", Role: sluice.RoleAdmin,
			Operator: operator, TokenHash: token}
	}
	if err := b.store.CreateAPIKey(ctx, key(false)); err != nil {
		t.Fatal(err)
	}
	err := b.store.CreateAPIKey(ctx, key(false))
	wantCode(t, "CreateAPIKey with a token taken", err, sluice.ECONFLICT)
	if msg := sluice.ErrorMessage(err); msg != "a key with this token exists already" {
		t.Errorf("message %q", msg)
	}

	op := func() *sluice.APIKey {
		k := key(true)
		k.TokenHash = sluice.HashToken(sluice.NewToken())
		return k
	}
	first := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	if err := b.store.CreateTenant(b.ctx, first, op()); err != nil {
		t.Fatal(err)
	}
	second := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	wantCode(t, "CreateTenant with a second operator key", b.store.CreateTenant(b.ctx, second, op()), sluice.ECONFLICT)
	if k, err := b.store.OperatorKey(b.ctx); err != nil || k.TenantID != first.ID {
		t.Fatalf("OperatorKey = %+v, %v; want the first", k, err)
	}

	d := b.destination(t, ctx, ten.ID, "*")
	again := *d
	wantCode(t, "CreateDestination with an id taken", b.store.CreateDestination(ctx, &again), sluice.ECONFLICT)
	err = b.driver.WithTx(b.ctx, func(ctx context.Context, tx engine.Tx) error { return tx.InsertTenant(ctx, ten) })
	wantCode(t, "InsertTenant with an id taken", err, sluice.ECONFLICT)
}

// A row that refers to one that does not exist is ENOTFOUND.
func testForeignKeyViolationIsNotFound(t *testing.T, b *bundle) {
	err := b.store.CreateAPIKey(b.ctx, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: "ten_missing",
		Name: "k", Role: sluice.RoleViewer, TokenHash: sluice.HashToken(sluice.NewToken())})
	wantCode(t, "CreateAPIKey of a tenant that does not exist", err, sluice.ENOTFOUND)
	err = b.driver.WithTx(b.ctx, func(ctx context.Context, tx engine.Tx) error {
		return tx.InsertDataKey(ctx, &engine.DataKeyRow{ID: "dk_x", TenantID: "ten_missing", Wrapped: []byte("wrapped"),
			CreatedAt: b.clock.Now()})
	})
	wantCode(t, "InsertDataKey of a tenant that does not exist", err, sluice.ENOTFOUND)
}

// A write that finds no row to change, or a read that finds none, is
// ENOTFOUND.
func testMissingRowIsNotFound(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	wantCode(t, "DeleteAPIKey of no key", b.store.DeleteAPIKey(ctx, ten.ID, "key_missing"), sluice.ENOTFOUND)
	wantCode(t, "SetTokenHash of no key", b.store.SetTokenHash(ctx, "key_missing", []byte("h")), sluice.ENOTFOUND)
	src := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: ten.ID, Name: "s",
		Verification: sluice.Verification{Type: sluice.VerifyNone}, Enabled: true}
	wantCode(t, "UpdateSource of no source", b.store.UpdateSource(ctx, src), sluice.ENOTFOUND)
	wantCode(t, "DeleteSource of no source", b.store.DeleteSource(ctx, ten.ID, src.ID), sluice.ENOTFOUND)
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, URL: "https://example.com/",
		EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}
	wantCode(t, "UpdateDestination of no destination", b.store.UpdateDestination(ctx, d), sluice.ENOTFOUND)
	wantCode(t, "DeleteDestination of no destination", b.store.DeleteDestination(ctx, ten.ID, d.ID), sluice.ENOTFOUND)
	_, err := b.store.Event(b.ctx, ten.ID, "evt_missing")
	wantCode(t, "Event of no event", err, sluice.ENOTFOUND)
	err = b.driver.WithTx(b.ctx, func(ctx context.Context, tx engine.Tx) error {
		return tx.UpdateSetting(ctx, "no_such_setting", "x")
	})
	wantCode(t, "UpdateSetting of no setting", err, sluice.ENOTFOUND)
}

// Routes come by destination id, so which of an event's deliveries are
// created claimed, when the claim has room for fewer, does not depend on
// the database.
func testRoutesInIDOrder(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	var ids []string
	for range 5 {
		ids = append(ids, b.destination(t, ctx, ten.ID, "*").ID)
	}
	var routes []string
	err := b.driver.WithTx(b.ctx, func(ctx context.Context, tx engine.Tx) error {
		rows, err := tx.Routes(ctx, ten.ID)
		routes = nil
		for _, r := range rows {
			routes = append(routes, r.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSorted(routes) || !slices.Equal(routes, ids) {
		t.Fatalf("routes %v, want every destination by id", routes)
	}
	ne := b.newEvent(ten.ID, "x.y", "")
	ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 2, Lease: time.Minute}
	created, err := b.store.CreateEvent(ctx, ne, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := claimedDestinations(created.Claims); !slices.Equal(got, ids[:2]) {
		t.Fatalf("created claimed for %v, want the first two by id %v", got, ids[:2])
	}
}

// Deliveries due at the same time are claimed by id, the order they were
// made in.
func testClaimsInDueThenIDOrder(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	for range 3 {
		b.destination(t, ctx, ten.ID, "*")
	}
	var want []string
	for range 3 {
		e := b.event(t, ctx, ten.ID, "x.y")
		ds, err := b.store.Deliveries(b.ctx, ten.ID, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			want = append(want, d.ID)
		}
	}
	slices.Sort(want)
	var got []string
	for range want {
		claims := b.claim(t, 1)
		if len(claims) != 1 {
			t.Fatalf("claimed %d, want 1", len(claims))
		}
		got = append(got, claims[0].Delivery.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("claimed in the order %v, want %v", got, want)
	}
}

// claimedDestinations returns the destinations of claims, in order.
func claimedDestinations(claims []*sluice.Claim) []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.Delivery.DestinationID
	}
	return out
}
