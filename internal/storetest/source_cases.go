package storetest

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// source stores an enabled source of the tenant verified by an HMAC.
func (b *bundle) source(t *testing.T, tenantID string) *sluice.Source {
	t.Helper()
	s := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: tenantID, Name: "stripe-live",
		Verification: sluice.Verification{Type: sluice.VerifyHMAC, Secret: "s3cret", Header: "X-Sig",
			Algorithm: "sha512", Encoding: "base64", Prefix: "sha512="},
		EventTypePath: "type", EventIDPath: "header:X-Id",
		SubjectPaths:       []sluice.SubjectPath{{Path: "data.object.customer_email", Type: "email"}},
		AllowedIPs:         []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		RateLimitPerSecond: 100, PayloadRetention: 168 * time.Hour, Enabled: true}
	if err := b.store.CreateSource(b.ctx, s); err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	return s
}

func testSources(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	s := b.source(t, ten.ID)
	got, err := b.store.Source(b.ctx, ten.ID, s.ID)
	if err != nil {
		t.Fatalf("Source: %v", err)
	}
	if !reflect.DeepEqual(got, s) || !got.CreatedAt.Equal(b.clock.Now()) {
		t.Fatalf("Source = %+v\nwant %+v", got, s)
	}
	if in, err := b.store.IngestSource(b.ctx, s.ID); err != nil || !reflect.DeepEqual(in, s) {
		t.Fatalf("IngestSource = %+v, %v", in, err)
	}
	basic := &sluice.Source{ID: sluice.NewID(sluice.PrefixSource), TenantID: ten.ID, Name: "basic",
		Verification:  sluice.Verification{Type: sluice.VerifyBasic, Username: "u", Password: "p"},
		EventTypePath: "type", EventIDPath: "id", Enabled: true}
	if err := b.store.CreateSource(ctx, basic); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.store.Source(b.ctx, ten.ID, basic.ID); got.Verification != basic.Verification ||
		got.SubjectPaths != nil || got.AllowedIPs != nil || got.PayloadRetention != 0 {
		t.Fatalf("basic source = %+v", got)
	}

	b.clock.Advance(time.Minute)
	got.Enabled, got.Name, got.Verification.Secret = false, "renamed", "rotated"
	got.AllowedIPs = nil
	if err := b.store.UpdateSource(ctx, got); err != nil {
		t.Fatalf("UpdateSource: %v", err)
	}
	again, _ := b.store.Source(b.ctx, ten.ID, s.ID)
	if again.Enabled || again.Name != "renamed" || again.Verification.Secret != "rotated" || again.AllowedIPs != nil ||
		!again.UpdatedAt.Equal(b.clock.Now()) || !again.CreatedAt.Equal(s.CreatedAt) {
		t.Fatalf("after update = %+v", again)
	}

	var ids []string
	cursor := ""
	for range 3 {
		page, next, err := b.store.Sources(b.ctx, ten.ID, sluice.Page{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatalf("Sources: %v", err)
		}
		for _, p := range page {
			ids = append(ids, p.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{basic.ID, s.ID}; !slices.Equal(ids, want) {
		t.Fatalf("paged ids = %v, want %v", ids, want)
	}

	if err := b.store.DeleteSource(ctx, ten.ID, s.ID); err != nil {
		t.Fatalf("DeleteSource: %v", err)
	}
	_, err = b.store.Source(b.ctx, ten.ID, s.ID)
	wantCode(t, "Source after delete", err, sluice.ENOTFOUND)
	_, err = b.store.IngestSource(b.ctx, s.ID)
	wantCode(t, "IngestSource after delete", err, sluice.ENOTFOUND)
	wantCode(t, "DeleteSource twice", b.store.DeleteSource(ctx, ten.ID, s.ID), sluice.ENOTFOUND)
	wantCode(t, "UpdateSource after delete", b.store.UpdateSource(ctx, s), sluice.ENOTFOUND)
}

func testSourceIsolation(t *testing.T, b *bundle) {
	a, _ := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	s := b.source(t, a.ID)
	_, err := b.store.Source(b.ctx, other.ID, s.ID)
	wantCode(t, "Source by another tenant", err, sluice.ENOTFOUND)
	stolen := *s
	stolen.TenantID, stolen.Name = other.ID, "stolen"
	wantCode(t, "UpdateSource by another tenant", b.store.UpdateSource(ctxB, &stolen), sluice.ENOTFOUND)
	wantCode(t, "DeleteSource by another tenant", b.store.DeleteSource(ctxB, other.ID, s.ID), sluice.ENOTFOUND)
	if list, _, err := b.store.Sources(b.ctx, other.ID, sluice.Page{}); err != nil || len(list) != 0 {
		t.Fatalf("other tenant's list = %v, %v, want empty", list, err)
	}
	if got, err := b.store.Source(b.ctx, a.ID, s.ID); err != nil || got.Name != s.Name {
		t.Fatalf("owner's source changed: %+v, %v", got, err)
	}
}

// An inbound event goes to destinations whose types match and whose
// source_ids are empty or name its source.
func testInboundRouting(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	src := b.source(t, ten.ID)
	all := b.destination(t, ctx, ten.ID, "*")
	mine := b.destination(t, ctx, ten.ID, "*")
	mine.SourceIDs = []string{"src_other", src.ID}
	theirs := b.destination(t, ctx, ten.ID, "*")
	theirs.SourceIDs = []string{"src_other"}
	for _, d := range []*sluice.Destination{mine, theirs} {
		if err := b.store.UpdateDestination(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	in := b.newEvent(ten.ID, "charge.succeeded", "")
	in.Event.Direction, in.Event.SourceID = sluice.Inbound, src.ID
	e, _, err := b.create(b.ctx, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{all.ID, mine.ID}
	slices.Sort(want)
	if got := deliveryDestinations(t, b, ten.ID, e.ID); !slices.Equal(got, want) {
		t.Errorf("inbound event routed to %v, want %v", got, want)
	}
	got, err := b.store.Event(b.ctx, ten.ID, e.ID)
	if err != nil || got.Direction != sluice.Inbound || got.SourceID != src.ID {
		t.Fatalf("stored inbound event = %+v, %v", got, err)
	}
	list, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{SourceID: src.ID})
	if err != nil || len(list) != 1 || list[0].ID != e.ID {
		t.Fatalf("events of the source = %v, %v", list, err)
	}
}
