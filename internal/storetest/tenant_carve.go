package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// TenantCarve reads the database's files, as Carve does, after a tenant's
// deletion, looking for what would open what the tenant held: its data
// key, wrapped, and its subjects' sealed keys. Where deleted rows do not
// remain in the files (cfg.DeletedRowsRemain false) it looks for
// everything else of the tenant too: its payloads' sealed bodies and
// shares, its subjects' keyed hashes (in its links, keys and erasures),
// and the word its names, event types and field paths carry. Before the
// deletion the same search finds them all, and afterwards it still finds
// another tenant's key and subject keys.
func TenantCarve(t *testing.T, open OpenFunc, cfg CarveConfig) {
	ctx := context.Background()
	clock := testkit.NewClock()
	d := open(t)
	s := testkit.OpenStore(t, d, testkit.StoreOptions{Now: clock.Now})
	b := &bundle{store: s, driver: d, clock: clock, ctx: ctx}
	_, opCtx := b.operator(t)
	kept := b.fullTenant(t, "keptq7x")
	gone := b.fullTenant(t, "gonek3w")
	// Other subjects' keys, so that the deleted tenant's share their
	// partitions' pages with keys that stay: the space they leave is then
	// free space inside a page, not a page the database can drop.
	for i := range 128 {
		in := b.newEvent(kept.tenant.ID, "keptq7x.crowd", "")
		in.Subjects = []sluice.Subject{{Type: "customer_id", Value: fmt.Sprintf("cus_crowd_%d", i)}}
		if _, err := s.CreateEvent(kept.ctx, in, 0); err != nil {
			t.Fatal(err)
		}
	}

	keys := func(ft *fullTenant, needles map[string][]byte) {
		t.Helper()
		dk, err := d.Read().NewestDataKey(ctx, ft.tenant.ID)
		if err != nil {
			t.Fatalf("NewestDataKey: %v", err)
		}
		needles[ft.named+"'s data key"] = dk.Wrapped
		shares, err := d.Read().KeyShares(ctx, ft.events)
		if err != nil || len(shares) == 0 {
			t.Fatalf("KeyShares = %d, %v; want the subjects' shares", len(shares), err)
		}
		for _, sh := range shares {
			needles[fmt.Sprintf("%s's subject key %x", ft.named, sh.Hash[:4])] = sealedPart(t, sh.SealedSubjectKey)
			if !cfg.DeletedRowsRemain {
				needles[fmt.Sprintf("%s's subject hash %x", ft.named, sh.Hash[:4])] = sh.Hash
			}
		}
	}
	destroyed, keptNeedles := map[string][]byte{}, map[string][]byte{}
	keys(gone, destroyed)
	keys(kept, keptNeedles)
	if !cfg.DeletedRowsRemain {
		for id := range gone.bodies {
			p, err := d.Read().Payload(ctx, gone.tenant.ID, id)
			if err != nil || p.Body == nil {
				t.Fatalf("Payload row of %s: %v", id, err)
			}
			destroyed[id+" body"] = sealedPart(t, p.Body)
			if p.KeyShare != nil {
				destroyed[id+" tenant share"] = sealedPart(t, p.KeyShare)
			}
			if p.Headers != nil {
				destroyed[id+" headers"] = sealedPart(t, p.Headers)
			}
		}
		destroyed["the tenant's names, types and paths"] = []byte(gone.named)
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
				t.Fatalf("%s: %s is not in the files: the carving cannot see it", when, what)
			}
		}
	}
	requireFound("before the deletion", destroyed)
	requireFound("before the deletion", keptNeedles)

	if err := s.DeleteTenant(opCtx, gone.tenant.ID); err != nil {
		t.Fatalf("DeleteTenant: %v", err)
	}
	// The deletion scrubbed as it ended, unless a transaction of another
	// test that began before it still ran: then a later scrub does, as
	// the retention service's next pass would.
	testkit.WaitFor(t, 30*time.Second, func() bool {
		if err := s.Scrub(ctx); err != nil {
			t.Fatal(err)
		}
		return s.Scrubbed()
	}, func() string { return "waiting for the deletion to be scrubbed" })
	for what, where := range carve(destroyed) {
		t.Errorf("after the deletion: %s is still in the files, at %s", what, where)
	}
	requireFound("after the deletion", keptNeedles)
	for id, body := range kept.bodies {
		if p, err := s.Payload(ctx, kept.tenant.ID, id); err != nil || string(p.Body) != body {
			t.Fatalf("the other tenant's payload of %s after the deletion: %v", id, err)
		}
	}
}
