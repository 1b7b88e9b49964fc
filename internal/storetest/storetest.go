// Package storetest is the conformance suite of the engine's drivers: every
// case runs on the engine (internal/engine) over a fresh database of the
// driver under test, so that the Store Sluice runs behaves the same on
// each. A driver's own test calls Run with a function that opens a driver
// on a fresh, empty database. Cases that need a capability a driver may
// lack (hearing other processes' work, running work in one process at a
// time) skip where the driver has none, as river's driver suite does for
// its listener.
package storetest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// OpenFunc opens a driver on a fresh, empty database. The suite closes it.
type OpenFunc func(t *testing.T) engine.Driver

// testCase is one conformance case: its function, and the policy of the
// store it runs on (zero: the engine's defaults).
type testCase struct {
	name   string
	fn     func(t *testing.T, b *bundle)
	health engine.Health
	// noticeRetention is how long notices' payloads are kept; 0: the
	// engine's default.
	noticeRetention time.Duration
	// keys is when data keys rotate and retire (zero: the defaults).
	keys engine.KeyPolicy
}

// Run runs the whole conformance suite against the drivers open returns.
func Run(t *testing.T, open OpenFunc) {
	tests := []testCase{
		{name: "Tenants", fn: testTenants},
		{name: "Keys", fn: testKeys},
		{name: "Destinations", fn: testDestinations},
		{name: "DestinationIsolation", fn: testDestinationIsolation},
		{name: "Sources", fn: testSources},
		{name: "SourceIsolation", fn: testSourceIsolation},
		{name: "InboundRouting", fn: testInboundRouting},
		{name: "CreateEventRoutes", fn: testCreateEventRoutes},
		{name: "CreateEventDedup", fn: testCreateEventDedup},
		{name: "CreateEventDedupConcurrent", fn: testCreateEventDedupConcurrent},
		{name: "Observations", fn: testObservations},
		{name: "EventTimesAndRetained", fn: testEventTimesAndRetained},
		{name: "EventsList", fn: testEventsList},
		{name: "EventIsolation", fn: testEventIsolation},
		{name: "Payload", fn: testPayload},
		{name: "ClaimDue", fn: testClaimDue},
		{name: "ClaimLease", fn: testClaimLease},
		{name: "ClaimSkipsDestinations", fn: testClaimSkipsDestinations},
		{name: "ClaimRoom", fn: testClaimRoom},
		{name: "ClaimTenantRoom", fn: testClaimTenantRoom},
		{name: "CreateEventClaimed", fn: testCreateEventClaimed},
		{name: "CreateEventClaimedTenantRoom", fn: testCreateEventClaimedTenantRoom},
		{name: "QueueStats", fn: testQueueStats},
		{name: "EventStatusFollowsDeliveries", fn: testEventStatusFollowsDeliveries},
		{name: "ClaimExpiredPayload", fn: testClaimExpiredPayload},
		{name: "RecordAttempt", fn: testRecordAttempt},
		{name: "RecordAttempts", fn: testRecordAttempts},
		{name: "RecordAttemptsHealth", fn: testRecordAttemptsHealth},
		{name: "RecordAttemptDisables", fn: testRecordAttemptDisables},
		{name: "ClaimRateLimit", fn: testClaimRateLimit},
		{name: "CircuitBreaker", fn: testCircuitBreaker,
			health: engine.Health{OpenAfter: 3, Pause: 10 * time.Second, MaxPause: 15 * time.Second}},
		{name: "ResumeDestination", fn: testResumeDestination, health: engine.Health{OpenAfter: 2, Pause: time.Hour}},
		{name: "AutoDisable", fn: testAutoDisable, health: engine.Health{DisableAfter: 120 * time.Hour},
			noticeRetention: time.Hour},
		{name: "NoticesAndRecovers", fn: testNoticesAndRecovers},
		{name: "DeleteDestinationCancels", fn: testDeleteDestinationCancels},
		{name: "ReleaseClaims", fn: testReleaseClaims},
		{name: "ReturnClaims", fn: testReturnClaims},
		{name: "Audit", fn: testAudit},
		{name: "ConcurrentWrites", fn: testConcurrentWrites},
		{name: "ErasePayload", fn: testErasePayload},
		{name: "EraseSubject", fn: testEraseSubject},
		{name: "EraseSubjectExpired", fn: testEraseSubjectExpired},
		{name: "SubjectPayloadsExpiry", fn: testSubjectPayloadsExpiry},
		{name: "Replay", fn: testReplay},
		{name: "DestinationDeliveries", fn: testDestinationDeliveries},
		{name: "Recover", fn: testRecover},
		{name: "PurgeExpiredPayloads", fn: testPurgeExpiredPayloads},
		{name: "PurgeMetadata", fn: testPurgeMetadata},
		{name: "SealingRoundTrip", fn: testSealingRoundTrip},
		{name: "SubjectKeysAcrossStores", fn: testSubjectKeysAcrossStores},
		{name: "DeleteTenant", fn: testDeleteTenant},
		{name: "DeleteTenantInFlight", fn: testDeleteTenantInFlight},
	}
	tests = append(tests, errorCases...)
	tests = append(tests, capabilityCases...)
	tests = append(tests, retentionCases...)
	tests = append(tests, dataKeyCases...)
	tests = append(tests, listenCases...)
	tests = append(tests, exposureCases...)
	tests = append(tests, restrictedCases...)
	tests = append(tests, thinCases...)
	tests = append(tests, keyCases...)
	tests = append(tests, auditCases...)
	tests = append(tests, auditFilterCases...)
	tests = append(tests, pseudonymCases...)
	tests = append(tests, sessionCases...)
	tests = append(tests, portalCases...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock, master := testkit.NewClock(), testkit.NewMaster(t)
			d := open(t)
			store := testkit.OpenStore(t, d, testkit.StoreOptions{Master: master, Now: clock.Now, Health: tt.health,
				NoticeRetention: tt.noticeRetention, Keys: tt.keys})
			tt.fn(t, &bundle{store: store, driver: d, master: master, clock: clock, ctx: context.Background(), keys: tt.keys})
		})
	}
}

// bundle is what every conformance test gets.
type bundle struct {
	store  *engine.Store
	driver engine.Driver
	master *seal.Master
	clock  *testkit.Clock
	ctx    context.Context
	keys   engine.KeyPolicy
}

// another opens a second engine over the bundle's driver, as a second
// process sharing the database would: the same keys, caches of its own.
// The bundle's store closes the driver.
func (b *bundle) another(t *testing.T) *engine.Store {
	t.Helper()
	s, err := engine.Open(b.ctx, engine.Config{Driver: b.driver, Master: b.master, Now: b.clock.Now, Keys: b.keys,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open another engine: %v", err)
	}
	return s
}

// create is CreateEvent with its result taken apart, as most cases use it.
func (b *bundle) create(ctx context.Context, ne *sluice.NewEvent, firstDelay time.Duration) (*sluice.Event, bool, error) {
	created, err := b.store.CreateEvent(ctx, ne, firstDelay)
	if err != nil {
		return nil, false, err
	}
	return created.Event, created.Duplicate, nil
}

// record records one attempt and returns its error.
func (b *bundle) record(r *sluice.AttemptResult) error {
	return b.store.RecordAttempts(b.ctx, []*sluice.AttemptResult{r})[0].Err
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
	e, dup, err := b.create(ctx, b.newEvent(tenantID, typ, ""), 0)
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
