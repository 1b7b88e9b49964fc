package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// dataKeyCases rotate and retire tenants' data keys.
var dataKeyCases = []testCase{
	{name: "RotateDataKey", fn: testRotateDataKey},
	{name: "RotateDataKeyAcrossStores", fn: testRotateDataKeyAcrossStores},
	{name: "RotateDataKeyAfterSeals", fn: testRotateDataKeyAfterSeals, keys: engine.KeyPolicy{RotateAfter: 4}},
	{name: "RotateDataKeyAfterSealsAcrossStores", fn: testRotateDataKeyAfterSealsAcrossStores,
		keys: engine.KeyPolicy{RotateAfter: 5}},
	{name: "RetireDataKeys", fn: testRetireDataKeys},
	{name: "RewrapRotatedKeys", fn: testRewrapRotatedKeys},
}

// newestKey returns the tenant's newest data key as stored.
func newestKey(t *testing.T, b *bundle, tenantID string) *engine.DataKeyRow {
	t.Helper()
	k, err := b.driver.Read().NewestDataKey(b.ctx, tenantID)
	if err != nil {
		t.Fatalf("NewestDataKey: %v", err)
	}
	return k
}

// wantSealedBy fails unless a stored value names the data key id.
func wantSealedBy(t *testing.T, what string, sealed []byte, id string) {
	t.Helper()
	got, err := seal.SealedKeyID(sealed)
	if err != nil || got != id {
		t.Fatalf("%s sealed under %q (%v), want %q", what, got, err, id)
	}
}

// destinationSealedBy fails unless the destination's URL and secret are
// stored sealed under the data key id.
func destinationSealedBy(t *testing.T, b *bundle, tenantID, id, keyID string) {
	t.Helper()
	r, err := b.driver.Read().Destination(b.ctx, tenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	wantSealedBy(t, "destination URL", r.SealedURL, keyID)
	wantSealedBy(t, "destination secret", r.SealedSecret, keyID)
	if r.SealedCredentials != nil {
		wantSealedBy(t, "destination credentials", r.SealedCredentials, keyID)
	}
}

// payloadSealedBy fails unless the payload's body (or, for a payload
// sealed for its subjects, the tenant's share of its key) is stored sealed
// under the data key id.
func payloadSealedBy(t *testing.T, b *bundle, tenantID, eventID, keyID string) {
	t.Helper()
	p, err := b.driver.Read().Payload(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatal(err)
	}
	if p.KeyShare != nil {
		wantSealedBy(t, "payload key share", p.KeyShare, keyID)
		return
	}
	wantSealedBy(t, "payload body", p.Body, keyID)
}

// publishAbout stores an event naming the subjects, with a dedup key when
// one is given, whose payload expires after ttl.
func publishAbout(t *testing.T, b *bundle, s *engine.Store, ctx context.Context, tenantID, dedup string, ttl time.Duration,
	subjects ...sluice.Subject) *sluice.EventCreated {
	t.Helper()
	in := b.newEvent(tenantID, "customer.updated", dedup)
	in.Payload.ExpiresAt, in.Subjects = b.clock.Now().Add(ttl), subjects
	created, err := s.CreateEvent(ctx, in, 0)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	return created
}

// wantExport fails unless the subject's export is exactly the events.
func wantExport(t *testing.T, s *engine.Store, ctx context.Context, tenantID string, subj sluice.Subject, ids ...string) {
	t.Helper()
	got, err := s.SubjectPayloads(ctx, tenantID, subj)
	if err != nil {
		t.Fatalf("SubjectPayloads: %v", err)
	}
	var gotIDs []string
	for _, p := range got {
		if p.IntegrityError {
			t.Fatalf("SubjectPayloads: %s fails its integrity check", p.EventID)
		}
		gotIDs = append(gotIDs, p.EventID)
	}
	if !slices.Equal(gotIDs, ids) {
		t.Fatalf("SubjectPayloads = %v, want %v", gotIDs, ids)
	}
}

// wantOpens fails unless every payload opens in the store.
func wantOpens(t *testing.T, s *engine.Store, tenantID string, eventIDs ...string) {
	t.Helper()
	for _, id := range eventIDs {
		if p, err := s.Payload(context.Background(), tenantID, id); err != nil || string(p.Body) != `{"n":1}` {
			t.Fatalf("Payload(%s) = %v, want the body", id, err)
		}
	}
}

// A rotation gives the tenant a new key that seals what comes next, in
// this store at once; what the old key sealed still opens; the subject
// index and dedup keys hash as before; another tenant's key is untouched.
// The audit log records it; an unknown tenant is ENOTFOUND.
func testRotateDataKey(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, _ := b.tenant(t, "b")
	first, otherKey := newestKey(t, b, ten.ID), newestKey(t, b, other.ID)
	d1 := b.destination(t, ctx, ten.ID, "*")
	named := publishAbout(t, b, b.store, ctx, ten.ID, "order-1", time.Hour, subjectAda).Event.ID
	plain := b.event(t, ctx, ten.ID, "x.y").ID
	destinationSealedBy(t, b, ten.ID, d1.ID, first.ID)
	payloadSealedBy(t, b, ten.ID, named, first.ID)
	payloadSealedBy(t, b, ten.ID, plain, first.ID)

	b.clock.Advance(time.Minute)
	rot, err := b.store.RotateDataKey(ctx, ten.ID)
	if err != nil {
		t.Fatalf("RotateDataKey: %v", err)
	}
	if rot.TenantID != ten.ID || rot.PreviousKeyID != first.ID || rot.KeyID == first.ID || !rot.RotatedAt.Equal(b.clock.Now()) {
		t.Fatalf("RotateDataKey = %+v, want a new key succeeding %s now", rot, first.ID)
	}
	if got := newestKey(t, b, ten.ID); got.ID != rot.KeyID || got.WrappedSubject == nil {
		t.Fatalf("newest key %s (subject key carried: %v), want %s carrying the subject key", got.ID, got.WrappedSubject != nil, rot.KeyID)
	}
	if got := newestKey(t, b, other.ID); got.ID != otherKey.ID {
		t.Fatalf("the other tenant's key changed to %s", got.ID)
	}
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Action != "tenant.rotate_key" || entries[0].ResourceID != rot.KeyID ||
		entries[0].ActorKeyID != sluice.ActorFrom(ctx).KeyID {
		t.Fatalf("audit = %+v, %v; want tenant.rotate_key of %s by the actor", entries, err, rot.KeyID)
	}

	d2 := b.destination(t, ctx, ten.ID, "*")
	destinationSealedBy(t, b, ten.ID, d2.ID, rot.KeyID)
	namedAfter := publishAbout(t, b, b.store, ctx, ten.ID, "", time.Hour, subjectAda).Event.ID
	plainAfter := b.event(t, ctx, ten.ID, "x.y").ID
	payloadSealedBy(t, b, ten.ID, namedAfter, rot.KeyID)
	payloadSealedBy(t, b, ten.ID, plainAfter, rot.KeyID)

	for _, id := range []string{d1.ID, d2.ID} {
		if got, err := b.store.Destination(ctx, ten.ID, id); err != nil || got.URL != d1.URL || got.Secret != d1.Secret {
			t.Fatalf("Destination(%s) after the rotation = %+v, %v", id, got, err)
		}
	}
	wantOpens(t, b.store, ten.ID, named, plain, namedAfter, plainAfter)
	wantExport(t, b.store, ctx, ten.ID, subjectAda, named, namedAfter)
	if again := publishAbout(t, b, b.store, ctx, ten.ID, "order-1", time.Hour); !again.Duplicate || again.Event.ID != named {
		t.Fatalf("a dedup key seen before the rotation: duplicate %v of %s, want %s", again.Duplicate, again.Event.ID, named)
	}

	// Again at the same instant: the newest is still the last made.
	next, err := b.store.RotateDataKey(ctx, ten.ID)
	if err != nil || next.PreviousKeyID != rot.KeyID || newestKey(t, b, ten.ID).ID != next.KeyID {
		t.Fatalf("second RotateDataKey = %+v, %v; want one succeeding %s, newest", next, err, rot.KeyID)
	}
	_, err = b.store.RotateDataKey(ctx, "ten_missing")
	wantCode(t, "RotateDataKey of an unknown tenant", err, sluice.ENOTFOUND)
}

// Two processes share the database. One rotates the tenant's key: the
// other goes on sealing under the key it read for no longer than
// KeyPolicy.Refresh, then seals under the new one; each opens everything.
func testRotateDataKeyAcrossStores(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other := b.another(t)
	first := newestKey(t, b, ten.ID)
	d1 := b.destination(t, ctx, ten.ID, "*") // the first store has read the key
	create := func() *sluice.Destination {
		t.Helper()
		d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "d",
			URL: "https://example.com/other", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			Enabled: true}
		if err := other.CreateDestination(ctx, d); err != nil {
			t.Fatalf("CreateDestination in the other store: %v", err)
		}
		return d
	}
	d2 := create()
	destinationSealedBy(t, b, ten.ID, d2.ID, first.ID)

	rot, err := b.store.RotateDataKey(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	d3 := b.destination(t, ctx, ten.ID, "*")
	destinationSealedBy(t, b, ten.ID, d3.ID, rot.KeyID)
	b.clock.Advance(seal.DefaultRefresh - time.Millisecond)
	d4 := create()
	destinationSealedBy(t, b, ten.ID, d4.ID, first.ID)
	b.clock.Advance(time.Millisecond)
	d5 := create()
	destinationSealedBy(t, b, ten.ID, d5.ID, rot.KeyID)

	for i, s := range []*engine.Store{b.store, other} {
		for _, id := range []string{d1.ID, d2.ID, d3.ID, d4.ID, d5.ID} {
			if _, err := s.Destination(ctx, ten.ID, id); err != nil {
				t.Fatalf("store %d: Destination(%s): %v", i, id, err)
			}
		}
	}
}

// With a key rotated after 4 values, the fifth is sealed under a new key:
// Sluice rotated it, as the audit log says, and the old key's row counts
// the 4.
func testRotateDataKeyAfterSeals(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	first := newestKey(t, b, ten.ID)
	var ids []string
	for range 6 {
		ids = append(ids, b.event(t, ctx, ten.ID, "x.y").ID)
	}
	second := newestKey(t, b, ten.ID)
	if second.ID == first.ID {
		t.Fatal("the key was not rotated after it sealed 4 values")
	}
	for i, id := range ids {
		want := first.ID
		if i >= 4 {
			want = second.ID
		}
		payloadSealedBy(t, b, ten.ID, id, want)
	}
	wantOpens(t, b.store, ten.ID, ids...)
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e *sluice.AuditEntry) bool { return e.Action == "tenant.rotate_key" })
	if i < 0 || entries[i].ResourceID != second.ID || entries[i].ActorKeyID != "" {
		t.Fatalf("audit = %v; want tenant.rotate_key of %s by Sluice itself", entries, second.ID)
	}
	old, err := b.driver.Read().RetiringDataKeys(b.ctx, b.clock.Now().Add(time.Second))
	if err != nil || len(old) != 1 || old[0].ID != first.ID || old[0].Seals != 4 {
		t.Fatalf("RetiringDataKeys = %v, %v; want %s having counted 4 seals", old, err, first.ID)
	}
}

// Two processes store events at once with a key rotated after 5 values:
// each rotation is recorded once, each process ends up sealing under the
// newest key, and every payload opens in both.
func testRotateDataKeyAfterSealsAcrossStores(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	stores := []*engine.Store{b.store, b.another(t)}
	const each = 15
	ids := make([][]string, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for range each {
				created, err := s.CreateEvent(ctx, b.newEvent(ten.ID, "x.y", ""), 0)
				if err != nil {
					t.Errorf("store %d: CreateEvent: %v", i, err)
					return
				}
				ids[i] = append(ids[i], created.Event.ID)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	rotated := map[string]bool{}
	for _, e := range entries {
		if e.Action == "tenant.rotate_key" {
			if rotated[e.ResourceID] {
				t.Fatalf("key %s recorded as rotated in twice", e.ResourceID)
			}
			rotated[e.ResourceID] = true
		}
	}
	newest := newestKey(t, b, ten.ID)
	if len(rotated) == 0 || !rotated[newest.ID] {
		t.Fatalf("rotations %v after %d seals with a share of 5; want the newest key %s among them", rotated, len(stores)*each, newest.ID)
	}
	for i, s := range stores {
		wantOpens(t, s, ten.ID, slices.Concat(ids...)...)
		// Past Refresh, a store seals under the newest key: the one it
		// reads, or the one it rotates to if that has sealed its share.
		b.clock.Advance(seal.DefaultRefresh)
		created, err := s.CreateEvent(ctx, b.newEvent(ten.ID, "x.y", ""), 0)
		if err != nil {
			t.Fatal(err)
		}
		p, err := b.driver.Read().Payload(b.ctx, ten.ID, created.Event.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantSealedBy(t, fmt.Sprintf("store %d: the body of a payload past Refresh", i), p.Body, newestKey(t, b, ten.ID).ID)
	}
}

// RewrapKeys moves every data key, rotated ones and the subject key they
// carry included, to a new master key: a store opened with it opens what
// each key sealed and hashes subjects as before.
func testRewrapRotatedKeys(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	d := b.destination(t, ctx, ten.ID, "*")
	before := publishAbout(t, b, b.store, ctx, ten.ID, "", time.Hour, subjectAda).Event.ID
	b.clock.Advance(time.Minute)
	rot, err := b.store.RotateDataKey(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	after := publishAbout(t, b, b.store, ctx, ten.ID, "", time.Hour, subjectAda).Event.ID
	next := testkit.NewMaster(t)
	if n, err := b.store.RewrapKeys(b.ctx, next); err != nil || n != 2 {
		t.Fatalf("RewrapKeys = %d, %v; want both of the tenant's keys", n, err)
	}
	if _, err := next.UnwrapSubjectKey(rot.KeyID, newestKey(t, b, ten.ID).WrappedSubject); err != nil {
		t.Fatalf("the subject key carried by %s under the new master key: %v", rot.KeyID, err)
	}
	s, err := engine.Open(b.ctx, engine.Config{Driver: b.driver, Master: next, Now: b.clock.Now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open with the new master key: %v", err)
	}
	if got, err := s.Destination(ctx, ten.ID, d.ID); err != nil || got.URL != d.URL {
		t.Fatalf("Destination under the new master key = %+v, %v", got, err)
	}
	wantOpens(t, s, ten.ID, before, after)
	wantExport(t, s, ctx, ten.ID, subjectAda, before, after)
}

// An old key is left alone for KeyPolicy.RetireAfter. Then what outlives
// payloads (destinations' URLs and secrets, sources' credentials,
// subjects' keys) is sealed again under the newest key, and the key is
// held while a payload sealed under it is retained. Once those are
// purged, the key is deleted. Everything left opens, in this store and in
// one that never read the old key, and subjects and dedup keys hash as
// before.
func testRetireDataKeys(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, otherCtx := b.tenant(t, "b")
	first := newestKey(t, b, ten.ID)
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "d",
		URL: "https://example.com/hook", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		PreviousSecret: "whsec_plJ3nmyCDGBKInavdOK15jsl", PreviousSecretUntil: b.clock.Now().Add(24 * time.Hour), Enabled: true}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	src := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: ten.ID, Name: "s",
		Verification: sluice.Verification{Type: sluice.VerifyToken, Secret: "tok-123", Header: "X-Token"}, Enabled: true}
	if err := b.store.CreateSource(ctx, src); err != nil {
		t.Fatal(err)
	}
	named := publishAbout(t, b, b.store, ctx, ten.ID, "order-1", 3*time.Hour, subjectAda).Event.ID
	alsoNamed := publishAbout(t, b, b.store, ctx, ten.ID, "", 3*time.Hour, subjectBob, subjectCust).Event.ID
	plain := publishAbout(t, b, b.store, ctx, ten.ID, "", 2*time.Hour).Event.ID
	otherEvent := publishAbout(t, b, b.store, otherCtx, other.ID, "", 3*time.Hour).Event.ID

	sealedUnder := func() []string {
		t.Helper()
		vals, err := b.driver.Read().SealedUnder(b.ctx, ten.ID, seal.SealedPrefix(first.ID), nil, 100)
		if err != nil {
			t.Fatalf("SealedUnder: %v", err)
		}
		var cols []string
		for _, v := range vals {
			cols = append(cols, v.Column)
		}
		slices.Sort(cols)
		return cols
	}
	want := []string{"destinations.previous_secret", "destinations.secret", "destinations.url", "sources.credentials",
		"subject_keys.sealed_key", "subject_keys.sealed_key", "subject_keys.sealed_key"}
	if got := sealedUnder(); !slices.Equal(got, want) {
		t.Fatalf("SealedUnder the first key = %v, want %v", got, want)
	}
	// Page by page, each going on after the last value of the one before.
	var paged []string
	seen := map[string]bool{}
	var after *engine.SealedValue
	for page := 0; ; page++ {
		vals, err := b.driver.Read().SealedUnder(b.ctx, ten.ID, seal.SealedPrefix(first.ID), after, 2)
		if err != nil || len(vals) > 2 || page > len(want) {
			t.Fatalf("SealedUnder page %d = %d values, %v", page, len(vals), err)
		}
		if len(vals) == 0 {
			break
		}
		for _, v := range vals {
			if ref := v.Column + v.ID + string(v.Hash); seen[ref] {
				t.Fatalf("SealedUnder returned %s %s%x twice", v.Column, v.ID, v.Hash)
			} else {
				seen[ref] = true
			}
			paged = append(paged, v.Column)
		}
		after = &vals[len(vals)-1]
	}
	if slices.Sort(paged); !slices.Equal(paged, want) {
		t.Fatalf("SealedUnder page by page = %v, want %v", paged, want)
	}
	n, last, err := b.driver.Read().PayloadsSealedUnder(b.ctx, ten.ID, seal.SealedPrefix(first.ID))
	if err != nil || n != 3 || !last.Equal(b.clock.Now().Add(3*time.Hour)) {
		t.Fatalf("PayloadsSealedUnder = %d, %v, %v; want 3, the last expiring in 3h", n, last, err)
	}
	b.clock.Advance(time.Minute)
	rot, err := b.store.RotateDataKey(ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}

	retire := func(want engine.KeyRetirement) {
		t.Helper()
		got, err := b.store.RetireDataKeys(b.ctx)
		if err != nil || got != want {
			t.Fatalf("RetireDataKeys = %+v, %v; want %+v", got, err, want)
		}
	}
	wantAll := func(s *engine.Store) {
		t.Helper()
		got, err := s.Destination(ctx, ten.ID, d.ID)
		if err != nil || got.URL != d.URL || got.Secret != d.Secret || got.PreviousSecret != d.PreviousSecret {
			t.Fatalf("Destination = %+v, %v; want it as created", got, err)
		}
		gotSrc, err := s.Source(ctx, ten.ID, src.ID)
		if err != nil || gotSrc.Verification.Secret != src.Verification.Secret {
			t.Fatalf("Source = %+v, %v; want its secret", gotSrc, err)
		}
	}
	retire(engine.KeyRetirement{}) // too soon after the rotation
	if len(sealedUnder()) != len(want) {
		t.Fatal("values sealed again before RetireAfter")
	}
	b.clock.Advance(engine.DefaultRetireAfter)
	retire(engine.KeyRetirement{Resealed: len(want), Held: 1})
	if got := sealedUnder(); len(got) != 0 {
		t.Fatalf("after the pass, still sealed under the old key: %v", got)
	}
	destinationSealedBy(t, b, ten.ID, d.ID, rot.KeyID)
	wantAll(b.store)
	wantAll(b.another(t))
	wantOpens(t, b.store, ten.ID, named, alsoNamed, plain)
	wantOpens(t, b.store, other.ID, otherEvent)
	retire(engine.KeyRetirement{}) // held until the named payload expires

	b.clock.Advance(2 * time.Hour)
	if n, err := b.store.PurgeExpiredPayloads(b.ctx, b.clock.Now(), 100); err != nil || n != 4 {
		t.Fatalf("PurgeExpiredPayloads = %d, %v; want the 4 payloads", n, err)
	}
	retire(engine.KeyRetirement{Retired: 1})
	_, err = b.driver.Read().DataKey(b.ctx, first.ID)
	wantCode(t, "DataKey of the retired key", err, sluice.ENOTFOUND)
	if got := newestKey(t, b, other.ID); got == nil {
		t.Fatal("the other tenant lost its key")
	}
	entries, _, err := b.store.AuditLog(b.ctx, ten.ID, sluice.Page{Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Action != "tenant.retire_key" || entries[0].ResourceID != first.ID {
		t.Fatalf("audit = %+v, %v; want tenant.retire_key of %s", entries, err, first.ID)
	}
	wantAll(b.store)
	wantAll(b.another(t))
	retire(engine.KeyRetirement{})

	// The subject key outlived the key it was derived from.
	later := publishAbout(t, b, b.store, ctx, ten.ID, "", time.Hour, subjectAda).Event.ID
	wantExport(t, b.another(t), ctx, ten.ID, subjectAda, later)
	if again := publishAbout(t, b, b.store, ctx, ten.ID, "order-1", time.Hour); !again.Duplicate || again.Event.ID != named {
		t.Fatalf("a dedup key seen before the retirement: duplicate %v of %s, want %s", again.Duplicate, again.Event.ID, named)
	}
	er, err := b.store.EraseSubject(ctx, ten.ID, subjectAda)
	if err != nil || er.EventsMatched != 2 || er.PayloadsErased != 1 {
		t.Fatalf("EraseSubject = %+v, %v; want both of ada's events matched, the retained one erased", er, err)
	}
	testkit.WaitFor(t, 30*time.Second, func() bool {
		if err := b.store.Scrub(b.ctx); err != nil {
			t.Fatal(err)
		}
		return b.store.Scrubbed()
	}, func() string { return "waiting for the retired key to be scrubbed" })
}

// CarveRetiredKey reads the database's files, as Carve does, for the
// wrapped bytes of a data key that was retired: before, the same search
// finds them; once the deletion is scrubbed they are nowhere, though the
// key's row was written again each time the processes added to its count.
func CarveRetiredKey(t *testing.T, open OpenFunc, cfg CarveConfig) {
	ctx := context.Background()
	clock := testkit.NewClock()
	d := open(t)
	s := testkit.OpenStore(t, d, testkit.StoreOptions{Now: clock.Now, Keys: engine.KeyPolicy{RotateAfter: 3}})
	b := &bundle{store: s, driver: d, clock: clock, ctx: ctx}
	ten, tctx := b.tenant(t, "a")
	first := newestKey(t, b, ten.ID)
	var ids []string
	for range 4 { // the fourth is sealed under the second key
		ids = append(ids, publishAbout(t, b, s, tctx, ten.ID, "", time.Minute).Event.ID)
	}
	needle := map[string][]byte{"the first key, wrapped": first.Wrapped}
	if found := testkit.Carve(t, cfg.PageSize, cfg.Files(t, d), needle); len(found) == 0 {
		t.Fatal("before the retirement: the wrapped key is not in the files: the carving cannot see it")
	}
	scrub := func(after string) {
		t.Helper()
		testkit.WaitFor(t, 30*time.Second, func() bool {
			if err := s.Scrub(ctx); err != nil {
				t.Fatal(err)
			}
			return s.Scrubbed()
		}, func() string { return "waiting for the scrub after " + after })
	}
	clock.Advance(engine.DefaultRetireAfter + time.Minute)
	if n, err := s.PurgeExpiredPayloads(ctx, clock.Now(), 100); err != nil || n != len(ids) {
		t.Fatalf("PurgeExpiredPayloads = %d, %v; want %d", n, err, len(ids))
	}
	scrub("the purge") // so that the retirement's own is what is tested
	if r, err := s.RetireDataKeys(ctx); err != nil || r.Retired != 1 {
		t.Fatalf("RetireDataKeys = %+v, %v; want the first key retired", r, err)
	}
	scrub("the retirement")
	for what, where := range testkit.Carve(t, cfg.PageSize, cfg.Files(t, d), needle) {
		t.Errorf("after the retirement: %s is still in the files, at %s", what, where)
	}
}
