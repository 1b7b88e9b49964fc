package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testTenants(t *testing.T, b *bundle) {
	if _, err := b.store.OperatorKey(b.ctx); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Fatalf("OperatorKey on an empty store: %v, want not_found", err)
	}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	op := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin,
		Operator: true, TokenHash: sluice.HashToken("first")}
	if err := b.store.CreateTenant(b.ctx, ten, op); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	got, err := b.store.OperatorKey(b.ctx)
	if err != nil {
		t.Fatalf("OperatorKey: %v", err)
	}
	if got.ID != op.ID || got.TenantID != ten.ID || !got.Operator || got.Role != sluice.RoleAdmin {
		t.Fatalf("OperatorKey = %+v, want %+v", got, op)
	}
	if err := b.store.SetTokenHash(b.ctx, op.ID, sluice.HashToken("second")); err != nil {
		t.Fatalf("SetTokenHash: %v", err)
	}
	if _, err := b.store.KeyByTokenHash(b.ctx, sluice.HashToken("first")); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Fatalf("old token still finds a key: %v", err)
	}
	if k, err := b.store.KeyByTokenHash(b.ctx, sluice.HashToken("second")); err != nil || k.ID != op.ID {
		t.Fatalf("KeyByTokenHash(new) = %v, %v", k, err)
	}
	wantCode(t, "SetTokenHash(unknown)", b.store.SetTokenHash(b.ctx, "key_nope", []byte("x")), sluice.ENOTFOUND)
}

func testKeys(t *testing.T, b *bundle) {
	a, ctxA := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	viewer := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: a.ID, Name: "ro",
		Role: sluice.RoleViewer, TokenHash: sluice.HashToken("viewer-token")}
	if err := b.store.CreateAPIKey(ctxA, viewer); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	got, err := b.store.KeyByTokenHash(b.ctx, sluice.HashToken("viewer-token"))
	if err != nil {
		t.Fatalf("KeyByTokenHash: %v", err)
	}
	if got.TenantID != a.ID || got.Role != sluice.RoleViewer || got.Operator || !bytes.Equal(got.TokenHash, viewer.TokenHash) {
		t.Fatalf("KeyByTokenHash = %+v", got)
	}
	wantCode(t, "DeleteAPIKey by another tenant", b.store.DeleteAPIKey(ctxB, other.ID, viewer.ID), sluice.ENOTFOUND)
	if err := b.store.DeleteAPIKey(ctxA, a.ID, viewer.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if _, err := b.store.KeyByTokenHash(b.ctx, sluice.HashToken("viewer-token")); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Fatalf("deleted key still found: %v", err)
	}
	wantCode(t, "DeleteAPIKey twice", b.store.DeleteAPIKey(ctxA, a.ID, viewer.ID), sluice.ENOTFOUND)

	op := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "operator", Role: sluice.RoleAdmin,
		Operator: true, TokenHash: sluice.HashToken("op")}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	if err := b.store.CreateTenant(b.ctx, ten, op); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	wantCode(t, "DeleteAPIKey(operator)", b.store.DeleteAPIKey(b.ctx, ten.ID, op.ID), sluice.EFORBIDDEN)
}

func testDestinations(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "billing",
		URL: "https://billing.example.com/hooks", EventTypes: []string{"invoice.*", "customer.created"},
		SourceIDs: []string{"src_1"}, Fields: []string{"id", "data.amount"}, RateLimitPerSecond: 50,
		Secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", Enabled: true}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	got, err := b.store.Destination(b.ctx, ten.ID, d.ID)
	if err != nil {
		t.Fatalf("Destination: %v", err)
	}
	if got.Name != d.Name || got.URL != d.URL || !slices.Equal(got.EventTypes, d.EventTypes) ||
		!slices.Equal(got.SourceIDs, d.SourceIDs) || !slices.Equal(got.Fields, d.Fields) ||
		got.RateLimitPerSecond != 50 || got.Secret != d.Secret || !got.Enabled || !got.CreatedAt.Equal(b.clock.Now()) {
		t.Fatalf("Destination = %+v, want %+v", got, d)
	}
	plain := b.destination(t, ctx, ten.ID, "*")
	if got, _ := b.store.Destination(b.ctx, ten.ID, plain.ID); got.Fields != nil || len(got.SourceIDs) != 0 {
		t.Fatalf("destination without fields/sources = %+v, want nil fields and no sources", got)
	}

	b.clock.Advance(time.Minute)
	got.Enabled, got.DisabledReason, got.Name = false, sluice.DisabledManual, "renamed"
	if err := b.store.UpdateDestination(ctx, got); err != nil {
		t.Fatalf("UpdateDestination: %v", err)
	}
	again, _ := b.store.Destination(b.ctx, ten.ID, d.ID)
	if again.Enabled || again.DisabledReason != sluice.DisabledManual || again.Name != "renamed" ||
		again.State() != sluice.StateDisabled || !again.UpdatedAt.Equal(b.clock.Now()) {
		t.Fatalf("after update = %+v", again)
	}

	// Pages of one, newest first, until the cursor runs out.
	var ids []string
	cursor := ""
	for range 3 {
		page, next, err := b.store.Destinations(b.ctx, ten.ID, sluice.Page{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatalf("Destinations: %v", err)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{plain.ID, d.ID}; !slices.Equal(ids, want) {
		t.Fatalf("paged ids = %v, want %v", ids, want)
	}

	if err := b.store.DeleteDestination(ctx, ten.ID, d.ID); err != nil {
		t.Fatalf("DeleteDestination: %v", err)
	}
	_, err = b.store.Destination(b.ctx, ten.ID, d.ID)
	wantCode(t, "Destination after delete", err, sluice.ENOTFOUND)
	wantCode(t, "DeleteDestination twice", b.store.DeleteDestination(ctx, ten.ID, d.ID), sluice.ENOTFOUND)
	wantCode(t, "UpdateDestination after delete", b.store.UpdateDestination(ctx, d), sluice.ENOTFOUND)
}

func testDestinationIsolation(t *testing.T, b *bundle) {
	a, ctxA := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	d := b.destination(t, ctxA, a.ID, "*")
	_, err := b.store.Destination(b.ctx, other.ID, d.ID)
	wantCode(t, "Destination by another tenant", err, sluice.ENOTFOUND)
	stolen := *d
	stolen.TenantID, stolen.Name = other.ID, "stolen"
	wantCode(t, "UpdateDestination by another tenant", b.store.UpdateDestination(ctxB, &stolen), sluice.ENOTFOUND)
	wantCode(t, "DeleteDestination by another tenant", b.store.DeleteDestination(ctxB, other.ID, d.ID), sluice.ENOTFOUND)
	list, _, err := b.store.Destinations(b.ctx, other.ID, sluice.Page{})
	if err != nil || len(list) != 0 {
		t.Fatalf("other tenant's list = %v, %v, want empty", list, err)
	}
	if got, err := b.store.Destination(b.ctx, a.ID, d.ID); err != nil || got.Name != d.Name {
		t.Fatalf("owner's destination changed: %+v, %v", got, err)
	}
}
