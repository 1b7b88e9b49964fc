package storetest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// keyCases are the cases of access reviews: a key's expiry and last use.
var keyCases = []testCase{
	{name: "KeyExpiryAndLastUse", fn: testKeyExpiryAndLastUse},
}

// A key's expiry and last use round-trip at millisecond precision, by
// every way a key is read; a last use only moves forward, and recording
// one for a deleted key is no error.
func testKeyExpiryAndLastUse(t *testing.T, b *bundle) {
	a, ctx := b.tenant(t, "a")
	expires := b.clock.Now().Add(36 * time.Hour).Truncate(time.Millisecond)
	k := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: a.ID, Name: "contractor",
		Role: sluice.RoleViewer, TokenHash: sluice.HashToken("expiring"), ExpiresAt: expires}
	if err := b.store.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	read := func(when string) *sluice.APIKey {
		t.Helper()
		got, err := b.store.KeyByTokenHash(b.ctx, sluice.HashToken("expiring"))
		if err != nil {
			t.Fatalf("KeyByTokenHash %s: %v", when, err)
		}
		keys, _, err := b.store.APIKeys(b.ctx, a.ID, sluice.Page{Limit: 10})
		if err != nil {
			t.Fatalf("APIKeys %s: %v", when, err)
		}
		for _, l := range keys {
			if l.ID == k.ID && (!l.ExpiresAt.Equal(got.ExpiresAt) || !l.LastUsedAt.Equal(got.LastUsedAt)) {
				t.Fatalf("APIKeys %s shows expiry %v, last use %v; KeyByTokenHash %v, %v", when,
					l.ExpiresAt, l.LastUsedAt, got.ExpiresAt, got.LastUsedAt)
			}
		}
		return got
	}
	got := read("after creation")
	if !got.ExpiresAt.Equal(expires) || !got.LastUsedAt.IsZero() {
		t.Fatalf("new key: expires %v, last used %v; want %v, never", got.ExpiresAt, got.LastUsedAt, expires)
	}
	if got.Expired(expires.Add(-time.Millisecond)) || !got.Expired(expires) {
		t.Errorf("Expired around %v is wrong", expires)
	}

	minute := b.clock.Now().Truncate(time.Minute)
	if err := b.store.RecordKeyUse(b.ctx, k.ID, minute); err != nil {
		t.Fatalf("RecordKeyUse: %v", err)
	}
	if got := read("after a use"); !got.LastUsedAt.Equal(minute) {
		t.Fatalf("last used %v, want %v", got.LastUsedAt, minute)
	}
	// Another process recording an older minute late does not move it back.
	if err := b.another(t).RecordKeyUse(b.ctx, k.ID, minute.Add(-time.Minute)); err != nil {
		t.Fatalf("RecordKeyUse (older): %v", err)
	}
	if got := read("after an older use"); !got.LastUsedAt.Equal(minute) {
		t.Fatalf("an older use moved the last use to %v, want %v", got.LastUsedAt, minute)
	}
	later := minute.Add(3 * time.Minute)
	if err := b.store.RecordKeyUse(b.ctx, k.ID, later); err != nil {
		t.Fatalf("RecordKeyUse (later): %v", err)
	}
	if got := read("after a later use"); !got.LastUsedAt.Equal(later) {
		t.Fatalf("last used %v, want %v", got.LastUsedAt, later)
	}

	// A key without an expiry never expires.
	if (&sluice.APIKey{}).Expired(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("a key without an expiry expired")
	}

	if err := b.store.DeleteAPIKey(ctx, a.ID, k.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	if err := b.store.RecordKeyUse(b.ctx, k.ID, later.Add(time.Minute)); err != nil {
		t.Fatalf("RecordKeyUse of a deleted key: %v, want no error", err)
	}
}
