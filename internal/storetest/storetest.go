// Package storetest is the conformance suite every sluice.Store passes. A
// store's own test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Clock is a settable clock for stores under test.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed, millisecond-aligned time.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// OpenFunc opens a fresh, empty store that uses clock.Now; the store is
// closed by the caller's t.Cleanup.
type OpenFunc func(t *testing.T, clock *Clock) sluice.Store

// Run runs the whole conformance suite against the stores open returns.
func Run(t *testing.T, open OpenFunc) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b *bundle)
	}{
		{"Tenants", testTenants},
		{"Keys", testKeys},
		{"Destinations", testDestinations},
		{"DestinationIsolation", testDestinationIsolation},
		{"Sources", testSources},
		{"SourceIsolation", testSourceIsolation},
		{"InboundRouting", testInboundRouting},
		{"CreateEventRoutes", testCreateEventRoutes},
		{"CreateEventDedup", testCreateEventDedup},
		{"CreateEventDedupConcurrent", testCreateEventDedupConcurrent},
		{"Observations", testObservations},
		{"EventTimesAndRetained", testEventTimesAndRetained},
		{"EventsList", testEventsList},
		{"EventIsolation", testEventIsolation},
		{"Payload", testPayload},
		{"ClaimDue", testClaimDue},
		{"ClaimLease", testClaimLease},
		{"ClaimSkipsDestinations", testClaimSkipsDestinations},
		{"ClaimRoom", testClaimRoom},
		{"CreateEventClaimed", testCreateEventClaimed},
		{"QueueStats", testQueueStats},
		{"ClaimExpiredPayload", testClaimExpiredPayload},
		{"RecordAttempt", testRecordAttempt},
		{"RecordAttempts", testRecordAttempts},
		{"RecordAttemptsHealth", testRecordAttemptsHealth},
		{"RecordAttemptDisables", testRecordAttemptDisables},
		{"ClaimRateLimit", testClaimRateLimit},
		{"CircuitBreaker", testCircuitBreaker},
		{"AutoDisable", testAutoDisable},
		{"NoticesAndRecovers", testNoticesAndRecovers},
		{"DeleteDestinationCancels", testDeleteDestinationCancels},
		{"ReleaseClaims", testReleaseClaims},
		{"ReturnClaims", testReturnClaims},
		{"Audit", testAudit},
		{"ConcurrentWrites", testConcurrentWrites},
		{"ErasePayload", testErasePayload},
		{"EraseSubject", testEraseSubject},
		{"EraseSubjectExpired", testEraseSubjectExpired},
		{"SubjectPayloadsExpiry", testSubjectPayloadsExpiry},
		{"Replay", testReplay},
		{"Recover", testRecover},
		{"PurgeExpiredPayloads", testPurgeExpiredPayloads},
		{"PurgeMetadata", testPurgeMetadata},
		{"SealingRoundTrip", testSealingRoundTrip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock()
			b := &bundle{store: open(t, clock), clock: clock, ctx: context.Background()}
			tt.fn(t, b)
		})
	}
}

// bundle is what every conformance test gets.
type bundle struct {
	store sluice.Store
	clock *Clock
	ctx   context.Context
}

// tenant creates a tenant with an admin key and returns it and the context
// of a request made with that key.
func (b *bundle) tenant(t *testing.T, name string) (*sluice.Tenant, context.Context) {
	t.Helper()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: name}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := b.store.CreateTenant(b.ctx, ten, key); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	return ten, sluice.WithActor(b.ctx, sluice.Actor{TenantID: ten.ID, KeyID: key.ID})
}

// destination creates an enabled destination of the tenant for the types.
func (b *bundle) destination(t *testing.T, ctx context.Context, tenantID string, types ...string) *sluice.Destination {
	t.Helper()
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: tenantID, Name: "d",
		URL: "https://example.com/hook", EventTypes: types, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Enabled: true}
	if err := b.store.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return d
}

// event publishes an event of the type, due now.
func (b *bundle) event(t *testing.T, ctx context.Context, tenantID, typ string) *sluice.Event {
	t.Helper()
	e, dup, err := b.store.CreateEvent(ctx, b.newEvent(tenantID, typ, ""), 0)
	if err != nil || dup {
		t.Fatalf("CreateEvent = dup %v, %v", dup, err)
	}
	return e
}

func (b *bundle) newEvent(tenantID, typ, dedup string) *sluice.NewEvent {
	now := b.clock.Now()
	return &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: typ,
			Direction: sluice.Outbound, ReceivedAt: now},
		DedupKey: dedup,
		Payload: sluice.Payload{Body: []byte(`{"n":1}`), ContentType: "application/json",
			ExpiresAt: now.Add(time.Hour)},
	}
}

// claim claims up to limit deliveries due at the clock's time.
func (b *bundle) claim(t *testing.T, limit int, skip ...string) []*sluice.Claim {
	t.Helper()
	room := make(map[string]int, len(skip))
	for _, id := range skip {
		room[id] = 0
	}
	claims, err := b.store.ClaimDue(b.ctx, sluice.ClaimRequest{Now: b.clock.Now(), Limit: limit,
		Lease: 30 * time.Second, Room: room})
	if err != nil {
		t.Fatalf("ClaimDue: %v", err)
	}
	return claims
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := sluice.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}
