package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// setup opens the engine over a fake driver, with the destinations given
// created through it.
func setup(t *testing.T, health engine.Health, dests ...*sluice.Destination) (*engine.Store, *fake, *testkit.Clock) {
	t.Helper()
	t.Parallel()
	f, clock := newFake(), testkit.NewClock()
	s := f.open(t, clock, health)
	for _, d := range dests {
		d.TenantID = f.tenantID
		if d.Secret == "" {
			d.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		}
		if err := s.CreateDestination(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	return s, f, clock
}

func destination(id string, types ...string) *sluice.Destination {
	return &sluice.Destination{ID: id, Name: id, URL: "https://" + id + ".example.com/hook", EventTypes: types, Enabled: true}
}

func newEvent(clock *testkit.Clock, typ, body string) *sluice.NewEvent {
	now := clock.Now()
	return &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: "ten_1", Type: typ,
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(body), ContentType: "application/json", ExpiresAt: now.Add(time.Hour)},
	}
}

// An event gets a pending delivery per destination it matches, and is
// pending; those a dispatcher may take at once are created claimed, with
// the destination's URL and secret opened for sending; deliveries to
// enabled destinations left unclaimed are announced.
func TestCreateEventRoutesAndClaims(t *testing.T) {
	paused := destination("dst_4", "x.*")
	s, f, clock := setup(t, engine.Health{},
		destination("dst_1", "x.*"),
		&sluice.Destination{ID: "dst_2", URL: "https://off.example.com/", EventTypes: []string{"x.*"}, Enabled: false},
		destination("dst_3", "other.*"),
		&sluice.Destination{ID: "dst_5", URL: "https://slow.example.com/", EventTypes: []string{"x.y"}, Enabled: true,
			RateLimitPerSecond: 5},
		paused)
	f.routes[4].PausedUntil = clock.Now().Add(time.Minute) // paused's row, as the store would read it
	ne := newEvent(clock, "x.y", `{"a":1}`)
	ne.Claim = &sluice.ClaimRequest{Now: clock.Now(), Limit: 10, Lease: 30 * time.Second}
	created, err := s.CreateEvent(context.Background(), ne, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows := f.events[0]
	var routed []string
	for _, d := range rows.Deliveries {
		routed = append(routed, d.DestinationID)
	}
	if want := []string{"dst_1", "dst_2", "dst_5", "dst_4"}; !slices.Equal(routed, want) {
		t.Fatalf("deliveries to %v, want %v", routed, want)
	}
	if created.Event.Status != sluice.EventPending || rows.Event.PayloadState != sluice.PayloadRetained {
		t.Fatalf("event %s, payload %s", created.Event.Status, rows.Event.PayloadState)
	}
	if len(created.Claims) != 1 || !created.Unclaimed || !rows.Announce {
		t.Fatalf("%d claims, unclaimed %v, announce %v; want the one plain destination claimed, the rest announced",
			len(created.Claims), created.Unclaimed, rows.Announce)
	}
	c := created.Claims[0]
	if c.Destination.URL != "https://dst_1.example.com/hook" || c.Destination.Secret == "" || string(c.Body) != `{"a":1}` {
		t.Fatalf("claim = %+v", c)
	}
	if lease := clock.Now().Add(30 * time.Second); !rows.Deliveries[0].LeaseUntil.Equal(lease) ||
		!rows.Deliveries[0].NextAttemptAt.Equal(lease) || !rows.Deliveries[1].LeaseUntil.IsZero() {
		t.Fatalf("claimed delivery %+v, unclaimed %+v", rows.Deliveries[0], rows.Deliveries[1])
	}

	// No destination matches: unrouted, nothing announced.
	created, err = s.CreateEvent(context.Background(), newEvent(clock, "none.here", `{}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := f.events[len(f.events)-1]; created.Event.Status != sluice.EventUnrouted || len(last.Deliveries) != 0 ||
		last.Announce || created.Unclaimed {
		t.Fatalf("unrouted event = %+v, announce %v", created, last.Announce)
	}
}

// A claim request's limit and rooms, and a first delay, hold deliveries
// back from being created claimed.
func TestCreateEventClaimsWithinRoom(t *testing.T) {
	s, f, clock := setup(t, engine.Health{}, destination("dst_1", "*"), destination("dst_2", "*"), destination("dst_3", "*"))
	claimed := func(r *sluice.ClaimRequest, firstDelay time.Duration) []string {
		t.Helper()
		ne := newEvent(clock, "x.y", `{}`)
		ne.Claim = r
		created, err := s.CreateEvent(context.Background(), ne, firstDelay)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range created.Claims {
			ids = append(ids, c.Delivery.DestinationID)
		}
		return ids
	}
	now := clock.Now()
	for _, tt := range []struct {
		name       string
		r          *sluice.ClaimRequest
		firstDelay time.Duration
		want       []string
	}{
		{"no request", nil, 0, nil},
		{"a limit of two", &sluice.ClaimRequest{Now: now, Limit: 2, Lease: time.Minute}, 0, []string{"dst_1", "dst_2"}},
		{"no room at one", &sluice.ClaimRequest{Now: now, Limit: 5, Lease: time.Minute, Room: map[string]int{"dst_2": 0}},
			0, []string{"dst_1", "dst_3"}},
		{"a first delay", &sluice.ClaimRequest{Now: now, Limit: 5, Lease: time.Minute}, time.Second, nil},
	} {
		if got := claimed(tt.r, tt.firstDelay); !slices.Equal(got, tt.want) {
			t.Errorf("%s: claimed for %v, want %v", tt.name, got, tt.want)
		}
	}
	if n := len(f.events); n != 4 {
		t.Fatalf("%d events stored, want 4", n)
	}
}

// What reaches the driver of a new event is sealed or hashed: the payload
// opens only under the tenant's key, subjects are distinct keyed hashes,
// and a dedup key is a keyed hash too.
func TestCreateEventSealsAndHashes(t *testing.T) {
	s, f, clock := setup(t, engine.Health{})
	ne := newEvent(clock, "x.y", `{"email":"ada@example.com"}`)
	ne.DedupKey = "order-ada@example.com"
	ne.Subjects = []sluice.Subject{{Type: "email", Value: "ada@example.com"}, {Type: "email", Value: "ada@example.com"},
		{Type: "customer_id", Value: "cus_1"}}
	if _, err := s.CreateEvent(context.Background(), ne, 0); err != nil {
		t.Fatal(err)
	}
	rows := f.events[0]
	if bytes.Contains(rows.Body, []byte("ada@")) || len(rows.Body) == 0 {
		t.Fatal("the payload reached the driver in the clear")
	}
	if len(rows.Subjects) != 2 || bytes.Equal(rows.Subjects[0].Hash, rows.Subjects[1].Hash) {
		t.Fatalf("%d subject links, want 2 distinct", len(rows.Subjects))
	}
	if len(rows.NewSubjectKeys) != 2 || rows.KeyShare == nil {
		t.Fatalf("%d new subject keys and key share %v; want 2 keys and the tenant's share", len(rows.NewSubjectKeys), rows.KeyShare != nil)
	}
	if strings.Contains(rows.DedupDigest, "example.com") || len(rows.DedupDigest) != 64 {
		t.Fatalf("dedup digest %q, want a keyed hash", rows.DedupDigest)
	}
	again := newEvent(clock, "x.y", `{}`)
	again.DedupKey = ne.DedupKey
	f.duplicate = &rows.Event
	created, err := s.CreateEvent(context.Background(), again, 0)
	if err != nil || !created.Duplicate || created.Event.ID != ne.Event.ID || len(created.Claims) != 0 {
		t.Fatalf("CreateEvent of a taken key = %+v, %v; want the first as a duplicate", created, err)
	}
}

// A field path new for a source's event type seen before is announced,
// after the event's commit, as sluice.anomaly.schema_drift naming the path
// and no value; a first event, or a known shape, announces nothing, and a
// known shape does not reach the driver again.
func TestCreateEventDrift(t *testing.T) {
	s, f, clock := setup(t, engine.Health{}, destination("dst_alerts", "sluice.anomaly.*"))
	create := func(body string) *sluice.EventCreated {
		t.Helper()
		created, err := s.CreateEvent(context.Background(), newEvent(clock, "order.paid", body), 0)
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	create(`{"id":1}`)
	create(`{"id":2}`)
	if n := len(f.events[1].Observations); n != 0 {
		t.Fatalf("a known shape reached the driver with %d observations", n)
	}
	if created := create(`{"id":3,"secret":"hunter2"}`); !created.Unclaimed {
		t.Fatal("the drift notice's delivery is not announced")
	}
	notices := f.eventsOfType(sluice.NoticeAnomalyPrefix + sluice.AnomalySchemaDrift)
	if len(notices) != 1 {
		t.Fatalf("%d drift notices, want 1", len(notices))
	}
	p, err := s.Payload(context.Background(), "ten_1", notices[0].Event.ID)
	if err != nil {
		t.Fatal(err)
	}
	body := p.Body
	var n sluice.AnomalyNotice
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatal(err)
	}
	if n.EventType != "order.paid" || n.Kind != sluice.AnomalySchemaDrift || n.Detail != "new field paths: secret" ||
		strings.Contains(string(body), "hunter2") {
		t.Fatalf("drift notice = %s", body)
	}
	if len(notices[0].Deliveries) != 1 || notices[0].Deliveries[0].DestinationID != "dst_alerts" {
		t.Fatalf("the drift notice goes to %+v, want the alert destination", notices[0].Deliveries)
	}
}

// attempt returns the result of attempt n of a delivery to a destination.
func attempt(clock *testkit.Clock, delivery, destination string, outcome sluice.AttemptOutcome, status sluice.DeliveryStatus) *sluice.AttemptResult {
	r := &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: "ten_1",
		DeliveryID: delivery, EventID: "evt_" + delivery, DestinationID: destination, Number: 1, Outcome: outcome,
		Duration: time.Second, At: clock.Now()}, EventType: "x.y", Status: status, CountsForHealth: true}
	if status == sluice.DeliveryPending {
		r.NextAttemptAt = clock.Now().Add(time.Minute)
	}
	return r
}

// Attempts are recorded in the order of their destinations and
// deliveries, whatever order they come in; one whose delivery is no longer
// claimed is ECONFLICT and the others go on; an exhausted delivery
// publishes sluice.delivery.exhausted, a 410 disables its destination and
// publishes sluice.destination.disabled; the events whose deliveries
// ended are refreshed once, in id order.
func TestRecordAttempts(t *testing.T) {
	s, f, clock := setup(t, engine.Health{}, destination("dst_alerts", "sluice.*"))
	f.stale["dlv_3"] = true
	gone := attempt(clock, "dlv_4", "dst_a", sluice.AttemptFailed, sluice.DeliveryExhausted)
	gone.Attempt.HTTPStatus, gone.DisableDestination = 410, sluice.DisabledGone
	rs := []*sluice.AttemptResult{
		attempt(clock, "dlv_2", "dst_b", sluice.AttemptSucceeded, sluice.DeliverySucceeded),
		attempt(clock, "dlv_1", "dst_b", sluice.AttemptFailed, sluice.DeliveryExhausted),
		attempt(clock, "dlv_3", "dst_a", sluice.AttemptSucceeded, sluice.DeliverySucceeded),
		gone,
		attempt(clock, "dlv_5", "dst_c", sluice.AttemptFailed, sluice.DeliveryPending),
	}
	recs := s.RecordAttempts(context.Background(), rs)
	var order []string
	for _, a := range f.attempts {
		order = append(order, a.Attempt.DeliveryID)
	}
	if want := []string{"dlv_3", "dlv_4", "dlv_1", "dlv_2", "dlv_5"}; !slices.Equal(order, want) {
		t.Fatalf("recorded in the order %v, want %v", order, want)
	}
	for i, rec := range recs {
		if want := map[bool]string{true: sluice.ECONFLICT}[i == 2]; sluice.ErrorCode(rec.Err) != want {
			t.Errorf("result %d: %v, want code %q", i, rec.Err, want)
		}
	}
	if recs[3].Disabled != sluice.DisabledGone || f.disabled["dst_a"] != sluice.DisabledGone || !recs[3].Unclaimed {
		t.Fatalf("the 410 = %+v, destination disabled %q", recs[3], f.disabled["dst_a"])
	}
	if got := f.eventsOfType(sluice.NoticeDestinationDisabled); len(got) != 1 {
		t.Fatalf("%d disabled notices, want 1", len(got))
	}
	if got := f.eventsOfType(sluice.NoticeDeliveryExhausted); len(got) != 2 {
		t.Fatalf("%d exhausted notices, want one per exhausted delivery (2)", len(got))
	}
	if !recs[1].Unclaimed || recs[0].Unclaimed || recs[4].Unclaimed {
		t.Fatalf("unclaimed = %v, %v, %v; want only the exhausted delivery's notice", recs[1].Unclaimed, recs[0].Unclaimed, recs[4].Unclaimed)
	}
	if want := [][]string{{"evt_dlv_1", "evt_dlv_2", "evt_dlv_4"}}; len(f.refreshed) != 1 || !slices.Equal(f.refreshed[0], want[0]) {
		t.Fatalf("refreshed %v, want %v", f.refreshed, want)
	}
	if h := f.health["dst_c"]; h == nil || h.Failures != 1 {
		t.Fatalf("health of the failing destination = %+v, want one failure", h)
	}
	if !slices.Contains(f.audits, "destination.disable dst_a") {
		t.Fatalf("audits %v, want the disable", f.audits)
	}
}

// A failure of the transaction fails every result with its error; a
// notice's delivery ending announces nothing, so a failing alert
// destination cannot feed itself.
func TestRecordAttemptsFailureAndNoticeLoops(t *testing.T) {
	s, f, clock := setup(t, engine.Health{}, destination("dst_alerts", "sluice.*"))
	exhausted := attempt(clock, "dlv_1", "dst_alerts", sluice.AttemptFailed, sluice.DeliveryExhausted)
	exhausted.EventType = sluice.NoticeDeliveryExhausted
	if rec := s.RecordAttempts(context.Background(), []*sluice.AttemptResult{exhausted})[0]; rec.Err != nil || rec.Unclaimed {
		t.Fatalf("RecordAttempts = %+v", rec)
	}
	if n := len(f.events); n != 0 {
		t.Fatalf("%d notices about a notice's delivery, want none", n)
	}
	f.failTx = errors.New("disk full")
	recs := s.RecordAttempts(context.Background(), []*sluice.AttemptResult{
		attempt(clock, "dlv_2", "dst_a", sluice.AttemptSucceeded, sluice.DeliverySucceeded),
		attempt(clock, "dlv_3", "dst_b", sluice.AttemptSucceeded, sluice.DeliverySucceeded),
	})
	for i, rec := range recs {
		if !errors.Is(rec.Err, f.failTx) {
			t.Errorf("result %d: %v, want the transaction's error", i, rec.Err)
		}
	}
}

// The circuit breaker runs on the engine's policy: after OpenAfter
// failures the destination is paused, audited; a success closes it.
func TestRecordAttemptsCircuit(t *testing.T) {
	s, f, clock := setup(t, engine.Health{OpenAfter: 2, Pause: time.Minute})
	for i := range 2 {
		r := attempt(clock, sluice.NewID(sluice.PrefixDelivery), "dst_a", sluice.AttemptFailed, sluice.DeliveryPending)
		if rec := s.RecordAttempts(context.Background(), []*sluice.AttemptResult{r})[0]; rec.Err != nil {
			t.Fatalf("failure %d: %v", i, rec.Err)
		}
	}
	h := f.health["dst_a"]
	if h.Failures != 2 || !h.PausedUntil.Equal(clock.Now().Add(time.Second+time.Minute)) {
		t.Fatalf("after two failures: %+v", h)
	}
	clock.Advance(2 * time.Minute)
	r := attempt(clock, sluice.NewID(sluice.PrefixDelivery), "dst_a", sluice.AttemptSucceeded, sluice.DeliverySucceeded)
	if rec := s.RecordAttempts(context.Background(), []*sluice.AttemptResult{r})[0]; rec.Err != nil {
		t.Fatal(rec.Err)
	}
	if h := f.health["dst_a"]; h.Failures != 0 || !h.PausedUntil.IsZero() {
		t.Fatalf("after a success: %+v", h)
	}
	if want := []string{"destination.pause dst_a", "destination.resume dst_a"}; !slices.Equal(f.audits, want) {
		t.Fatalf("audits %v, want %v", f.audits, want)
	}
}

// A payload that names subjects opens only while every one of their keys
// exists: without one, it is gone (EGONE), though its bytes, its shares
// and the tenant's key are all still there. One naming no subject is
// sealed under the tenant's key, and stays readable.
func TestSubjectKeysShred(t *testing.T) {
	s, f, clock := setup(t, engine.Health{})
	ctx := context.Background()
	named := newEvent(clock, "x.y", `{"email":"ada@example.com"}`)
	named.Subjects = []sluice.Subject{{Type: "email", Value: "ada@example.com"}, {Type: "customer_id", Value: "cus_1"}}
	plain := newEvent(clock, "x.y", `{"n":1}`)
	for _, ne := range []*sluice.NewEvent{named, plain} {
		if _, err := s.CreateEvent(ctx, ne, 0); err != nil {
			t.Fatal(err)
		}
	}
	if f.events[1].KeyShare != nil || len(f.events[1].Subjects) != 0 {
		t.Fatal("an event naming no subject was given subject shares")
	}
	for _, ne := range []*sluice.NewEvent{named, plain} {
		p, err := s.Payload(ctx, "ten_1", ne.Event.ID)
		if err != nil || !bytes.Equal(p.Body, ne.Payload.Body) {
			t.Fatalf("Payload of %s before any erasure: %v", ne.Event.ID, err)
		}
	}
	// A second event of the same subject reuses its key, stored once.
	again := newEvent(clock, "x.y", `{"email":"ada@example.com"}`)
	again.Subjects = named.Subjects[:1]
	if _, err := s.CreateEvent(ctx, again, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(f.events[2].NewSubjectKeys); n != 0 || len(f.subjectKeys) != 2 {
		t.Fatalf("a known subject got %d new keys; %d keys stored, want 2", n, len(f.subjectKeys))
	}

	delete(f.subjectKeys, "ten_1"+string(f.events[0].Subjects[1].Hash)) // cus_1's key, as another process erases it
	_, err := s.Payload(ctx, "ten_1", named.Event.ID)
	if sluice.ErrorCode(err) != sluice.EGONE {
		t.Fatalf("Payload naming a subject whose key is gone = %v, want %s", err, sluice.EGONE)
	}
	for _, ne := range []*sluice.NewEvent{again, plain} {
		if p, err := s.Payload(ctx, "ten_1", ne.Event.ID); err != nil || !bytes.Equal(p.Body, ne.Payload.Body) {
			t.Fatalf("Payload of an event not naming the erased subject: %v", err)
		}
	}
}
