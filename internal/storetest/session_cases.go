package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// sessionCases are the cases of dashboard sessions.
var sessionCases = []testCase{
	{name: "SessionRoundTrip", fn: testSessionRoundTrip},
	{name: "SessionExpiry", fn: testSessionExpiry},
	{name: "SessionFlash", fn: testSessionFlash},
	{name: "SessionEndsWithKey", fn: testSessionEndsWithKey},
}

// sessionKey creates a viewer key of the tenant and returns it.
func (b *bundle) sessionKey(t *testing.T, ctx context.Context, tenantID string) *sluice.APIKey {
	t.Helper()
	k := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), TenantID: tenantID, Name: "browser",
		Role: sluice.RoleViewer, TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := b.store.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k
}

// session signs key in for ttl and returns the session's cookie id and
// the session.
func (b *bundle) session(t *testing.T, key *sluice.APIKey, ttl time.Duration) (string, *sluice.Session) {
	t.Helper()
	id := sluice.NewToken()
	s := &sluice.Session{IDHash: sluice.HashSessionID(id), KeyID: key.ID, CSRF: sluice.NewToken(),
		ExpiresAt: b.clock.Now().Add(ttl)}
	if err := b.store.CreateSession(b.ctx, s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return id, s
}

// A session reads back whole, with its key, from the process that created
// it and from another sharing the database; it is stored under its id's
// hash only. Signing out ends it, and signing out twice is no error.
func testSessionRoundTrip(t *testing.T, b *bundle) {
	a, ctx := b.tenant(t, "a")
	key := b.sessionKey(t, ctx, a.ID)
	id, s := b.session(t, key, 8*time.Hour)
	if !s.CreatedAt.Equal(b.clock.Now().Truncate(time.Millisecond)) {
		t.Errorf("CreatedAt %v, want the store's now %v", s.CreatedAt, b.clock.Now())
	}
	other := b.another(t)
	for name, store := range map[string]sluice.Store{"this process": b.store, "another process": other} {
		got, err := store.Session(b.ctx, sluice.HashSessionID(id))
		if err != nil {
			t.Fatalf("Session (%s): %v", name, err)
		}
		if got.KeyID != key.ID || got.CSRF != s.CSRF || !got.CreatedAt.Equal(s.CreatedAt) ||
			!got.ExpiresAt.Equal(s.ExpiresAt.Truncate(time.Millisecond)) || got.Flash != "" {
			t.Errorf("Session (%s) = %+v, want %+v", name, got, s)
		}
		if got.Key == nil || got.Key.ID != key.ID || got.Key.TenantID != a.ID || got.Key.Role != sluice.RoleViewer {
			t.Errorf("Session (%s) key = %+v, want %s", name, got.Key, key.ID)
		}
	}
	if _, err := b.store.Session(b.ctx, []byte(id)); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Session by the id itself: %v, want ENOTFOUND: only its hash is stored", err)
	}
	wantCode(t, "Session(unknown)", func() error {
		_, err := b.store.Session(b.ctx, sluice.HashSessionID("nope"))
		return err
	}(), sluice.ENOTFOUND)
	wantCode(t, "CreateSession(taken id)", b.store.CreateSession(b.ctx, &sluice.Session{IDHash: s.IDHash,
		KeyID: key.ID, CSRF: "x", ExpiresAt: s.ExpiresAt}), sluice.ECONFLICT)
	wantCode(t, "CreateSession(unknown key)", b.store.CreateSession(b.ctx, &sluice.Session{
		IDHash: sluice.HashSessionID("other"), KeyID: "key_nope", CSRF: "x", ExpiresAt: s.ExpiresAt}), sluice.ENOTFOUND)
	wantCode(t, "CreateSession(no hash)", b.store.CreateSession(b.ctx, &sluice.Session{KeyID: key.ID,
		CSRF: "x", ExpiresAt: s.ExpiresAt}), sluice.EINVALID)

	if err := other.DeleteSession(b.ctx, s.IDHash); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	wantCode(t, "Session after sign-out", func() error {
		_, err := b.store.Session(b.ctx, s.IDHash)
		return err
	}(), sluice.ENOTFOUND)
	if err := b.store.DeleteSession(b.ctx, s.IDHash); err != nil {
		t.Errorf("DeleteSession again: %v, want no error", err)
	}
}

// A session reads until the millisecond it expires and not from then; a
// new session deletes expired ones.
func testSessionExpiry(t *testing.T, b *bundle) {
	a, ctx := b.tenant(t, "a")
	key := b.sessionKey(t, ctx, a.ID)
	start := b.clock.Now()
	_, s := b.session(t, key, time.Hour)
	read := func() error {
		_, err := b.store.Session(b.ctx, s.IDHash)
		return err
	}
	b.clock.Set(s.ExpiresAt.Add(-time.Millisecond))
	if err := read(); err != nil {
		t.Fatalf("Session a millisecond before its expiry: %v", err)
	}
	b.clock.Set(s.ExpiresAt)
	wantCode(t, "Session at its expiry", read(), sluice.ENOTFOUND)

	// A sign-in after the expiry deletes the expired session: with the
	// clock turned back, it is still not there.
	b.clock.Advance(time.Minute)
	b.session(t, key, time.Hour)
	b.clock.Set(start)
	wantCode(t, "Session expired and deleted", read(), sluice.ENOTFOUND)
}

// A flash message waits in its session until it is taken, once: a second
// take, or one racing it in another process, gets nothing. A new message
// replaces one waiting; one for no session is ENOTFOUND; a long one is cut.
func testSessionFlash(t *testing.T, b *bundle) {
	a, ctx := b.tenant(t, "a")
	key := b.sessionKey(t, ctx, a.ID)
	_, s := b.session(t, key, time.Hour)
	_, bystander := b.session(t, key, time.Hour)
	take := func(store sluice.Store) string {
		t.Helper()
		got, err := store.TakeSessionFlash(b.ctx, s.IDHash)
		if err != nil {
			t.Fatalf("TakeSessionFlash: %v", err)
		}
		return got
	}
	if got := take(b.store); got != "" {
		t.Fatalf("a new session's flash: %q", got)
	}
	if err := b.store.SetSessionFlash(b.ctx, s.IDHash, "first"); err != nil {
		t.Fatalf("SetSessionFlash: %v", err)
	}
	if err := b.store.SetSessionFlash(b.ctx, s.IDHash, "Created destination dst_1."); err != nil {
		t.Fatalf("SetSessionFlash (again): %v", err)
	}
	got, err := b.store.Session(b.ctx, s.IDHash)
	if err != nil || got.Flash != "Created destination dst_1." {
		t.Fatalf("Session shows the flash %q, %v; want the latest", got.Flash, err)
	}
	if other, err := b.store.Session(b.ctx, bystander.IDHash); err != nil || other.Flash != "" {
		t.Errorf("another session of the key shows the flash %q, %v", other.Flash, err)
	}
	if got := take(b.another(t)); got != "Created destination dst_1." {
		t.Errorf("taken in another process: %q", got)
	}
	if got := take(b.store); got != "" {
		t.Errorf("taken twice: %q", got)
	}
	if got, err := b.store.Session(b.ctx, s.IDHash); err != nil || got.Flash != "" {
		t.Errorf("Session after the take shows %q, %v", got.Flash, err)
	}

	// Requests racing for one message: one of them gets it.
	if err := b.store.SetSessionFlash(b.ctx, s.IDHash, "raced"); err != nil {
		t.Fatalf("SetSessionFlash: %v", err)
	}
	stores := []sluice.Store{b.store, b.another(t)}
	var wg sync.WaitGroup
	results := make([]string, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = stores[i%2].TakeSessionFlash(b.ctx, s.IDHash)
		}()
	}
	wg.Wait()
	taken := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("TakeSessionFlash racing: %v", errs[i])
		}
		if r == "raced" {
			taken++
		}
	}
	if taken != 1 {
		t.Errorf("the message was taken %d times by racing requests, want once", taken)
	}

	long := strings.Repeat("é", sluice.MaxFlash)
	if err := b.store.SetSessionFlash(b.ctx, s.IDHash, long); err != nil {
		t.Fatalf("SetSessionFlash (long): %v", err)
	}
	if got := take(b.store); len(got) > sluice.MaxFlash || !strings.HasPrefix(long, got) || len(got) < sluice.MaxFlash-1 {
		t.Errorf("a long message kept %d bytes, want it cut whole characters to %d", len(got), sluice.MaxFlash)
	}
	wantCode(t, "SetSessionFlash(no session)", b.store.SetSessionFlash(b.ctx, sluice.HashSessionID("nope"), "x"),
		sluice.ENOTFOUND)
}

// Deleting a key ends its sessions, with their waiting messages; so does
// replacing its token, and deleting its tenant. Other keys' sessions stay.
func testSessionEndsWithKey(t *testing.T, b *bundle) {
	_, opCtx := b.operator(t)
	a, ctx := b.tenant(t, "a")
	gone, kept := b.sessionKey(t, ctx, a.ID), b.sessionKey(t, ctx, a.ID)
	_, goneSession := b.session(t, gone, time.Hour)
	_, keptSession := b.session(t, kept, time.Hour)
	if err := b.store.SetSessionFlash(b.ctx, goneSession.IDHash, "waiting"); err != nil {
		t.Fatalf("SetSessionFlash: %v", err)
	}
	ended := func(what string, s *sluice.Session) {
		t.Helper()
		_, err := b.store.Session(b.ctx, s.IDHash)
		wantCode(t, "Session after "+what, err, sluice.ENOTFOUND)
	}
	alive := func(what string, s *sluice.Session) {
		t.Helper()
		if _, err := b.store.Session(b.ctx, s.IDHash); err != nil {
			t.Fatalf("another key's session after %s: %v", what, err)
		}
	}
	if err := b.store.DeleteAPIKey(ctx, a.ID, gone.ID); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	ended("its key's deletion", goneSession)
	alive("the deletion", keptSession)
	if got, err := b.store.TakeSessionFlash(b.ctx, goneSession.IDHash); err != nil || got != "" {
		t.Errorf("the ended session's message: %q, %v; want it gone with it", got, err)
	}

	op, err := b.store.OperatorKey(b.ctx)
	if err != nil {
		t.Fatalf("OperatorKey: %v", err)
	}
	_, opSession := b.session(t, op, time.Hour)
	if err := b.store.SetTokenHash(b.ctx, op.ID, sluice.HashToken(sluice.NewToken())); err != nil {
		t.Fatalf("SetTokenHash: %v", err)
	}
	ended("its token's replacement", opSession)
	alive("the replacement", keptSession)

	if err := b.store.DeleteTenant(opCtx, a.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	ended("its tenant's deletion", keptSession)
}
