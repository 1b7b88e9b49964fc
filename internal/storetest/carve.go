package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// CarveConfig says how to read a driver's database as files.
type CarveConfig struct {
	// PageSize is the database's page size.
	PageSize int
	// Files writes out what the database holds in memory and returns
	// every file its data lives in.
	Files func(t *testing.T, d engine.Driver) []string
	// DeletedRowsRemain says the bytes of deleted rows may stay in the
	// files: PostgreSQL's VACUUM marks their space free and leaves them in
	// it. There the carving after an erasure looks only for the erased
	// subject's key, whose partition the erasure rewrites: without it, the
	// erased payloads' bodies, shares and links left in free space do not
	// open. A purge destroys no key, so what it deletes is gone from the
	// tables but not from the files, and is not carved for.
	DeletedRowsRemain bool
}

// Carve reads the database's files as someone holding a copy of its data
// directory would, after an erasure and after a purge, looking for every
// sealed value that would open what was erased or purged: the payloads'
// bodies, the tenants' shares of their keys, and the erased subject's key.
// Before each, the same search finds them all, so that it is known to
// see what the files hold.
func Carve(t *testing.T, open OpenFunc, cfg CarveConfig) {
	ctx := context.Background()
	clock := testkit.NewClock()
	d := open(t)
	s := testkit.OpenStore(t, d, testkit.StoreOptions{Now: clock.Now})
	b := &bundle{store: s, driver: d, clock: clock, ctx: ctx}
	ten, tctx := b.tenant(t, "a")
	b.destination(t, tctx, ten.ID, "*")

	const marker = "carve-marker-0f6e1d"
	create := func(ttl time.Duration, subjects ...sluice.Subject) string {
		t.Helper()
		in := b.newEvent(ten.ID, "customer.updated", "")
		in.Payload.Body = []byte(`{"email":"ada@example.com","note":"` + marker + `"}`)
		in.Payload.ExpiresAt, in.Subjects = clock.Now().Add(ttl), subjects
		if _, err := s.CreateEvent(ctx, in, 0); err != nil {
			t.Fatal(err)
		}
		return in.Event.ID
	}
	// stored returns the sealed values an event's payload is kept as.
	stored := func(id string, needles map[string][]byte) {
		t.Helper()
		p, err := d.Read().Payload(ctx, ten.ID, id)
		if err != nil || p.Body == nil {
			t.Fatalf("Payload row of %s: %v", id, err)
		}
		needles[id+" body"] = sealedPart(t, p.Body)
		if p.KeyShare != nil {
			needles[id+" tenant share"] = sealedPart(t, p.KeyShare)
		}
	}
	carve := func(needles map[string][]byte) map[string]string {
		t.Helper()
		return testkit.Carve(t, cfg.PageSize, cfg.Files(t, d), needles)
	}
	requireFound := func(when string, needles map[string][]byte) {
		t.Helper()
		found := carve(needles)
		for what := range needles {
			if _, ok := found[what]; !ok {
				t.Fatalf("%s: %s is not in the files: the carving cannot see them", when, what)
			}
		}
	}
	requireGone := func(when string, needles map[string][]byte) {
		t.Helper()
		for what, where := range carve(needles) {
			t.Errorf("%s: %s is still in the files, at %s", when, what, where)
		}
	}

	// Other subjects' keys first, so that ada's is not alone in its page:
	// the space her deleted key leaves is then free space inside a page
	// that stays, not a page the database can drop.
	for i := range 128 {
		create(time.Hour, sluice.Subject{Type: "customer_id", Value: fmt.Sprintf("cus_crowd_%d", i)})
	}
	erased := create(time.Hour, subjectAda)
	alsoErased := create(time.Hour, subjectAda, subjectCust)
	kept := create(time.Hour, subjectCust)
	expiring := create(time.Minute)
	expiringNamed := create(time.Minute, subjectBob)

	erasure := map[string][]byte{}
	if !cfg.DeletedRowsRemain {
		stored(erased, erasure)
		stored(alsoErased, erasure)
	}
	shares, err := d.Read().KeyShares(ctx, []string{erased})
	if err != nil || len(shares) != 1 {
		t.Fatalf("KeyShares = %d, %v; want ada's", len(shares), err)
	}
	erasure["ada's key"] = sealedPart(t, shares[0].SealedSubjectKey)
	keptNeedles := map[string][]byte{}
	stored(kept, keptNeedles)
	requireFound("before the erasure", erasure)

	if _, err := s.EraseSubject(tctx, ten.ID, subjectAda); err != nil {
		t.Fatal(err)
	}
	// The erasure scrubbed as it ended, unless a transaction of another
	// test that began before it still ran: then a later scrub does, as the
	// retention service's next pass would.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		if err := s.Scrub(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Scrubbed()
	}, func() string { return "waiting for the erasure to be scrubbed" })
	requireGone("after the erasure", erasure)
	requireFound("after the erasure", keptNeedles)
	if p, err := s.Payload(ctx, ten.ID, kept); err != nil || len(p.Body) == 0 {
		t.Fatalf("the payload of another subject's event after the erasure: %v", err)
	}
	if cfg.DeletedRowsRemain {
		return
	}

	purge := map[string][]byte{}
	stored(expiring, purge)
	stored(expiringNamed, purge)
	requireFound("before the purge", purge)
	clock.Advance(2 * time.Minute)
	if n, err := s.PurgeExpiredPayloads(ctx, clock.Now(), 100); err != nil || n != 2 {
		t.Fatalf("PurgeExpiredPayloads = %d, %v; want 2", n, err)
	}
	if err := s.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	requireGone("after the purge", purge)
	requireFound("after the purge", keptNeedles)
	requireGone("at the end", map[string][]byte{"the payloads' plaintext": []byte(marker)})
}

// sealedPart returns the part of a sealed value that is its own: the
// nonce, ciphertext and tag, after the header naming its key, which every
// value sealed under that key shares (see internal/seal).
func sealedPart(t *testing.T, sealed []byte) []byte {
	t.Helper()
	if len(sealed) < 2 || len(sealed) < 2+int(sealed[1])+28 {
		t.Fatalf("a sealed value of %d bytes", len(sealed))
	}
	return sealed[2+int(sealed[1]):]
}
