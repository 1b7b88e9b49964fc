package storetest

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func deliveryDestinations(t *testing.T, b *bundle, tenantID, eventID string) []string {
	t.Helper()
	ds, err := b.store.Deliveries(b.ctx, tenantID, eventID)
	if err != nil {
		t.Fatalf("Deliveries: %v", err)
	}
	var out []string
	for _, d := range ds {
		if d.Status != sluice.DeliveryPending || d.Attempts != 0 || d.NextAttemptAt.IsZero() {
			t.Fatalf("new delivery = %+v, want pending with a next attempt", d)
		}
		out = append(out, d.DestinationID)
	}
	slices.Sort(out)
	return out
}

func testCreateEventRoutes(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	all := b.destination(t, ctx, ten.ID, "*")
	invoices := b.destination(t, ctx, ten.ID, "invoice.*")
	ops := b.destination(t, ctx, ten.ID, "sluice.*")
	disabled := b.destination(t, ctx, ten.ID, "invoice.paid")
	disabled.Enabled, disabled.DisabledReason = false, sluice.DisabledManual
	if err := b.store.UpdateDestination(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	fromSource := b.destination(t, ctx, ten.ID, "*")
	fromSource.SourceIDs = []string{"src_x"}
	if err := b.store.UpdateDestination(ctx, fromSource); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		typ  string
		want []string
	}{
		{"invoice.paid", []string{all.ID, invoices.ID, disabled.ID}},
		{"customer.created", []string{all.ID}},
		{"sluice.delivery.exhausted", []string{ops.ID}},
	}
	for _, tt := range tests {
		e := b.event(t, ctx, ten.ID, tt.typ)
		want := slices.Clone(tt.want)
		slices.Sort(want)
		if got := deliveryDestinations(t, b, ten.ID, e.ID); !slices.Equal(got, want) {
			t.Errorf("%s routed to %v, want %v", tt.typ, got, want)
		}
		if e.Status != sluice.EventPending || e.PayloadState != sluice.PayloadRetained {
			t.Errorf("%s: status %q payload %q", tt.typ, e.Status, e.PayloadState)
		}
	}

	// A destination created after the first event is routed the next one.
	late := b.destination(t, ctx, ten.ID, "customer.*")
	e := b.event(t, ctx, ten.ID, "customer.deleted")
	want := []string{all.ID, late.ID}
	slices.Sort(want)
	if got := deliveryDestinations(t, b, ten.ID, e.ID); !slices.Equal(got, want) {
		t.Errorf("after a new destination routed to %v, want %v", got, want)
	}

	// No match: stored, unrouted.
	other, ctxO := b.tenant(t, "empty")
	e = b.event(t, ctxO, other.ID, "invoice.paid")
	if got, _ := b.store.Event(b.ctx, other.ID, e.ID); got.Status != sluice.EventUnrouted {
		t.Errorf("event with no destination has status %q, want unrouted", got.Status)
	}
}

func testCreateEventDedup(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctx, ten.ID, "*")
	first, dup, err := b.create(ctx, b.newEvent(ten.ID, "a.b", "pub:k1"), 0)
	if err != nil || dup {
		t.Fatalf("first CreateEvent = %v, %v", dup, err)
	}
	again, dup, err := b.create(ctx, b.newEvent(ten.ID, "a.b", "pub:k1"), 0)
	if err != nil || !dup || again.ID != first.ID {
		t.Fatalf("repeat = %+v dup %v err %v, want the first event as duplicate", again, dup, err)
	}
	if ds, _ := b.store.Deliveries(b.ctx, ten.ID, first.ID); len(ds) != 1 {
		t.Fatalf("duplicate added deliveries: %d", len(ds))
	}
	theirs, dup, err := b.create(ctxB, b.newEvent(other.ID, "a.b", "pub:k1"), 0)
	if err != nil || dup || theirs.ID == first.ID {
		t.Fatalf("same key in another tenant = %+v dup %v err %v, want a new event", theirs, dup, err)
	}
	list, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{})
	if len(list) != 1 {
		t.Fatalf("tenant has %d events, want 1", len(list))
	}
}

// The same dedup key sent many times at once, as a provider retrying a
// webhook while the first delivery of it is still being stored, makes one
// event: every caller gets it back, and only its creator gets deliveries
// created claimed.
func testCreateEventDedupConcurrent(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "*")
	const callers = 16
	type result struct {
		id     string
		dup    bool
		claims int
		err    error
	}
	results := make([]result, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ne := b.newEvent(ten.ID, "a.b", "in:src_1:evt_1")
			ne.Claim = &sluice.ClaimRequest{Now: b.clock.Now(), Limit: 10, Lease: 30 * time.Second, PerDestination: 4}
			created, err := b.store.CreateEvent(ctx, ne, 0)
			results[i].err = err
			if err == nil {
				results[i].id, results[i].dup, results[i].claims = created.Event.ID, created.Duplicate, len(created.Claims)
			}
		})
	}
	wg.Wait()
	var created []result
	for _, r := range results {
		if r.err != nil {
			t.Fatalf("CreateEvent: %v", r.err)
		}
		if !r.dup {
			created = append(created, r)
		} else if r.claims != 0 {
			t.Errorf("a duplicate came back with %d claims", r.claims)
		}
	}
	if len(created) != 1 || created[0].claims != 1 {
		t.Fatalf("%d callers created the event (claims %v), want 1 with 1 claim", len(created), created)
	}
	for _, r := range results {
		if r.id != created[0].id {
			t.Fatalf("a caller got event %q, want the created %q", r.id, created[0].id)
		}
	}
	if ds, err := b.store.Deliveries(b.ctx, ten.ID, created[0].id); err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %d, %v; want 1", len(ds), err)
	}
	if list, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{}); len(list) != 1 {
		t.Fatalf("tenant has %d events, want 1", len(list))
	}
}

func testEventsList(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	b.destination(t, ctx, ten.ID, "invoice.*")
	var ids []string
	for i := range 5 {
		typ := "invoice.paid"
		if i%2 == 1 {
			typ = "customer.created"
		}
		ids = append(ids, b.event(t, ctx, ten.ID, typ).ID)
	}
	slices.Reverse(ids)
	var got []string
	cursor := ""
	for {
		page, next, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Page: sluice.Page{Limit: 2, Cursor: cursor}})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged events = %v, want %v", got, ids)
	}
	byType, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Type: "customer.created"})
	unrouted, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Status: sluice.EventUnrouted})
	pending, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Status: sluice.EventPending, Type: "invoice.paid"})
	if len(byType) != 2 || len(unrouted) != 2 || len(pending) != 3 {
		t.Fatalf("filters: type %d unrouted %d pending invoices %d, want 2 2 3", len(byType), len(unrouted), len(pending))
	}
	if src, _, _ := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{SourceID: "src_none"}); len(src) != 0 {
		t.Fatalf("source filter matched %d published events", len(src))
	}
}

func testEventIsolation(t *testing.T, b *bundle) {
	a, ctxA := b.tenant(t, "a")
	other, _ := b.tenant(t, "b")
	b.destination(t, ctxA, a.ID, "*")
	e := b.event(t, ctxA, a.ID, "x.y")
	if _, err := b.store.Event(b.ctx, other.ID, e.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Event by another tenant: %v", err)
	}
	if _, err := b.store.Payload(b.ctx, other.ID, e.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Payload by another tenant: %v", err)
	}
	if _, err := b.store.Deliveries(b.ctx, other.ID, e.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Deliveries by another tenant: %v", err)
	}
	if _, err := b.store.Attempts(b.ctx, other.ID, e.ID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Errorf("Attempts by another tenant: %v", err)
	}
	if list, _, _ := b.store.Events(b.ctx, other.ID, sluice.EventFilter{}); len(list) != 0 {
		t.Errorf("other tenant lists %d events", len(list))
	}
}

func testPayload(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	in := b.newEvent(ten.ID, "x.y", "")
	in.Payload.Body = []byte("{\"email\":\"ada@example.com\",\n \"n\": 1}")
	in.Payload.Headers = map[string][]string{"Content-Type": {"application/json"}}
	e, _, err := b.create(ctx, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.store.Payload(b.ctx, ten.ID, e.ID)
	if err != nil {
		t.Fatalf("Payload: %v", err)
	}
	if string(p.Body) != string(in.Payload.Body) || p.ContentType != "application/json" ||
		p.Headers.Get("Content-Type") != "application/json" || !p.ExpiresAt.Equal(in.Payload.ExpiresAt) {
		t.Fatalf("Payload = %+v, want the stored bytes and headers", p)
	}
	_, err = b.store.Payload(b.ctx, ten.ID, "evt_unknown")
	wantCode(t, "Payload(unknown)", err, sluice.ENOTFOUND)
	b.clock.Advance(time.Hour)
	_, err = b.store.Payload(b.ctx, ten.ID, e.ID)
	wantCode(t, "Payload after expiry", err, sluice.EGONE)
}

// What events show of their shape is kept once each, never a value: their
// types, JSON field paths and subject types, by source. A field path new
// for a source and type seen before is drift, announced by
// sluice.anomaly.schema_drift naming the path; one of a type seen for the
// first time is not.
func testObservations(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	b.destination(t, ctx, ten.ID, "sluice.anomaly.*")
	drifts := func() []string {
		t.Helper()
		var details []string
		for _, e := range b.eventsOfType(t, ten.ID, sluice.NoticeAnomalyPrefix+sluice.AnomalySchemaDrift) {
			p, err := b.store.Payload(b.ctx, ten.ID, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			var n sluice.AnomalyNotice
			if err := json.Unmarshal(p.Body, &n); err != nil {
				t.Fatal(err)
			}
			details = append(details, n.SourceID+"/"+n.EventType+": "+n.Detail)
		}
		return details
	}
	create := func(ctx context.Context, tenantID, source, body string, subjects ...sluice.Subject) *sluice.EventCreated {
		t.Helper()
		ne := b.newEvent(tenantID, "order.paid", "")
		ne.Event.SourceID, ne.Payload.Body, ne.Subjects = source, []byte(body), subjects
		created, err := b.store.CreateEvent(ctx, ne, 0)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	create(ctx, ten.ID, "", `{"id":"o_1","amount":1}`, sluice.Subject{Type: "email", Value: "ada@example.com"})
	if got := drifts(); len(got) != 0 {
		t.Fatalf("a first event drifted: %v", got)
	}
	if created := create(ctx, ten.ID, "", `{"id":"o_2","amount":2,"card":{"number":"4242"}}`); !created.Unclaimed {
		t.Fatal("the drift notice's delivery is not due")
	}
	want := []string{"/order.paid: new field paths: card, card.number"}
	if got := drifts(); !slices.Equal(got, want) {
		t.Fatalf("drift = %v, want %v", got, want)
	}
	create(ctx, ten.ID, "", `{"card":{"number":"5555"}}`)
	create(ctx, ten.ID, "src_x", `{"id":"o_3","other":true}`)
	create(ctxB, other.ID, "", `{"id":"o_4","extra":1}`)
	if got := drifts(); !slices.Equal(got, want) {
		t.Fatalf("drift after a known path, another source's and another tenant's first events = %v, want %v", got, want)
	}
	got, err := b.store.Observations(b.ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range got {
		if o.EventType == "order.paid" {
			names = append(names, o.SourceID+"/"+string(o.Kind)+"/"+o.Name)
		}
	}
	wantNames := []string{"/field/amount", "/field/card", "/field/card.number", "/field/id", "/subject/email", "/type/",
		"src_x/field/id", "src_x/field/other", "src_x/type/"}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("observations = %v, want %v", names, wantNames)
	}
}

// Events can be bounded by time received; RetainedPayloads counts a
// tenant's payloads and finds the next to expire.
func testEventTimesAndRetained(t *testing.T, b *bundle) {
	ten, ctx := b.tenant(t, "a")
	other, ctxB := b.tenant(t, "b")
	first := b.event(t, ctx, ten.ID, "x.y")
	b.clock.Advance(time.Minute)
	second := b.newEvent(ten.ID, "x.y", "")
	second.Payload.ExpiresAt = b.clock.Now().Add(10 * time.Minute) // sooner than the first's hour
	if _, _, err := b.create(ctx, second, 0); err != nil {
		t.Fatal(err)
	}
	b.event(t, ctxB, other.ID, "x.y")

	got, _, err := b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Since: b.clock.Now().Add(-time.Second)})
	if err != nil || len(got) != 1 || got[0].ID != second.Event.ID {
		t.Fatalf("events since a second ago = %v, %v", got, err)
	}
	got, _, err = b.store.Events(b.ctx, ten.ID, sluice.EventFilter{Until: b.clock.Now().Add(-time.Second)})
	if err != nil || len(got) != 1 || got[0].ID != first.ID {
		t.Fatalf("events until a second ago = %v, %v", got, err)
	}

	n, next, err := b.store.RetainedPayloads(b.ctx, ten.ID)
	if err != nil || n != 2 || !next.Equal(second.Payload.ExpiresAt.Truncate(time.Millisecond)) {
		t.Fatalf("retained = %d, next %v, %v; want 2, %v", n, next, err, second.Payload.ExpiresAt)
	}
	if err := b.store.ErasePayload(ctx, ten.ID, second.Event.ID); err != nil {
		t.Fatal(err)
	}
	if n, _, err := b.store.RetainedPayloads(b.ctx, ten.ID); err != nil || n != 1 {
		t.Fatalf("after an erasure retained = %d, %v", n, err)
	}
}
