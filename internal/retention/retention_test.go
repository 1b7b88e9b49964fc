package retention_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/retention"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// wait bounds every wait for the service's goroutine.
const wait = 10 * time.Second

// personal is a payload body that must never reach a log.
const personal = `{"email":"ada@example.com"}`

// fakeStore is a retention.Store whose methods are its function fields;
// a nil one purges nothing.
type fakeStore struct {
	purgePayloads func(ctx context.Context, now time.Time, limit int) (int, error)
	purgeMetadata func(ctx context.Context, now time.Time, limit int) (int, error)
	purgeAudit    func(ctx context.Context, now time.Time, limit int) (int, error)
	scrubs        atomic.Int32
}

type purgeFunc = func(ctx context.Context, now time.Time, limit int) (int, error)

func call(f purgeFunc, ctx context.Context, now time.Time, limit int) (int, error) {
	if f == nil {
		return 0, nil
	}
	return f(ctx, now, limit)
}

func (f *fakeStore) PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error) {
	return call(f.purgePayloads, ctx, now, limit)
}

func (f *fakeStore) PurgeMetadata(ctx context.Context, now time.Time, limit int) (int, error) {
	return call(f.purgeMetadata, ctx, now, limit)
}

func (f *fakeStore) PurgeAudit(ctx context.Context, now time.Time, limit int) (int, error) {
	return call(f.purgeAudit, ctx, now, limit)
}

func (f *fakeStore) Scrub(context.Context) error {
	f.scrubs.Add(1)
	return nil
}

func newLogger(l *testlog.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// bundle is a real SQLite store on a settable clock, with one tenant that
// has one destination.
type bundle struct {
	store    *engine.Store
	clock    *testkit.Clock
	tenantID string
	ctx      context.Context
}

// setup opens the store with the server's retention r (zero fields: the
// defaults).
func setup(t *testing.T, r sluice.Retention) *bundle {
	t.Helper()
	clock := testkit.NewClock()
	ctx := context.Background()
	s := testkit.SQLiteStore(t, testkit.StoreOptions{Now: clock.Now, Retention: r})
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "a"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := s.CreateTenant(ctx, ten, key); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, Name: "d",
		URL: "https://example.com/hook", EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Enabled: true}
	if err := s.CreateDestination(ctx, d); err != nil {
		t.Fatalf("CreateDestination: %v", err)
	}
	return &bundle{store: s, clock: clock, tenantID: ten.ID, ctx: ctx}
}

// event stores an event received now whose payload expires after ttl.
func (b *bundle) event(t *testing.T, ttl time.Duration) string {
	t.Helper()
	now := b.clock.Now()
	created, err := b.store.CreateEvent(b.ctx, &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: b.tenantID, Type: "customer.updated",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload:  sluice.Payload{Body: []byte(personal), ContentType: "application/json", ExpiresAt: now.Add(ttl)},
		Subjects: []sluice.Subject{{Type: "email", Value: "ada@example.com"}},
	}, 0)
	if err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	return created.Event.ID
}

func (b *bundle) wantPayloadState(t *testing.T, eventID string, state sluice.PayloadState) {
	t.Helper()
	e, err := b.store.Event(b.ctx, b.tenantID, eventID)
	if err != nil {
		t.Fatalf("Event: %v", err)
	}
	if e.PayloadState != state {
		t.Fatalf("payload_state %q, want %q", e.PayloadState, state)
	}
}

func (b *bundle) wantEventGone(t *testing.T, eventID string) {
	t.Helper()
	if _, err := b.store.Event(b.ctx, b.tenantID, eventID); sluice.ErrorCode(err) != sluice.ENOTFOUND {
		t.Fatalf("Event after the metadata retention: %v, want not_found", err)
	}
}

// newService creates a service, failing the test on a config error.
func newService(t *testing.T, cfg retention.Config) *retention.Service {
	t.Helper()
	s, err := retention.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// passes returns an OnPass that signals every pass on the channel without
// ever blocking the service.
func passes() (func(retention.Pass), chan retention.Pass) {
	ch := make(chan retention.Pass, 64)
	return func(p retention.Pass) {
		select {
		case ch <- p:
		default:
		}
	}, ch
}

func nextPass(t *testing.T, ch <-chan retention.Pass) retention.Pass {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(wait):
		t.Fatalf("no retention pass within %v", wait)
		return retention.Pass{}
	}
}

// stopPromptly calls Stop and fails unless it returns within the deadline.
func stopPromptly(t *testing.T, s *retention.Service) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("Stop did not return within %v", wait)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	store := &fakeStore{}
	tests := []struct {
		name string
		cfg  retention.Config
	}{
		{"no store", retention.Config{}},
		{"negative interval", retention.Config{Store: store, Interval: -time.Second}},
		{"negative batch size", retention.Config{Store: store, BatchSize: -1}},
	}
	for _, tt := range tests {
		s, err := retention.New(tt.cfg)
		if err == nil || s != nil {
			t.Errorf("%s: New = %v, %v, want an error", tt.name, s, err)
		}
	}
	if _, err := retention.New(retention.Config{Store: store}); err != nil {
		t.Fatalf("New with only a store: %v", err)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	var (
		limits                            []int
		payloadNow, metadataNow, auditNow time.Time
	)
	purge := func(at *time.Time) purgeFunc {
		return func(_ context.Context, now time.Time, limit int) (int, error) {
			*at = now
			limits = append(limits, limit)
			return 0, nil
		}
	}
	store := &fakeStore{purgePayloads: purge(&payloadNow), purgeMetadata: purge(&metadataNow), purgeAudit: purge(&auditNow)}
	clock := testkit.NewClock()
	s := newService(t, retention.Config{Store: store, Now: clock.Now})
	if p := s.RunPass(context.Background()); p != (retention.Pass{}) {
		t.Fatalf("RunPass with nothing due = %+v", p)
	}
	if n := store.scrubs.Load(); n != 1 {
		t.Fatalf("a pass scrubbed the store %d times, want once", n)
	}
	if want := []int{retention.DefaultBatchSize, retention.DefaultBatchSize, retention.DefaultBatchSize}; !slices.Equal(limits, want) {
		t.Fatalf("batch limits %v, want the default %d for each purge", limits, retention.DefaultBatchSize)
	}
	for what, at := range map[string]time.Time{"payloads": payloadNow, "metadata": metadataNow, "audit entries": auditNow} {
		if !at.Equal(clock.Now()) {
			t.Fatalf("%s purged as of %v, want the clock's %v", what, at, clock.Now())
		}
	}

	// Without a clock it uses the real time.
	s = newService(t, retention.Config{Store: store})
	before := time.Now()
	s.RunPass(context.Background())
	if payloadNow.Before(before) || payloadNow.After(time.Now()) {
		t.Fatalf("default clock gave %v, want the current time", payloadNow)
	}
}

func TestRunPass(t *testing.T) {
	t.Parallel()
	b := setup(t, sluice.Retention{Metadata: 72 * time.Hour, Audit: 100 * time.Hour})
	var logs testlog.Buffer
	s := newService(t, retention.Config{Store: b.store, Now: b.clock.Now, BatchSize: 10, Logger: newLogger(&logs)})
	start := b.clock.Now()
	short1, short2 := b.event(t, time.Hour), b.event(t, time.Hour)
	long := b.event(t, 100*time.Hour)

	if p := s.RunPass(b.ctx); p != (retention.Pass{}) {
		t.Fatalf("RunPass with nothing due = %+v", p)
	}
	b.clock.Advance(2 * time.Hour)
	if p := s.RunPass(b.ctx); p.Payloads != 2 || p.Events != 0 || p.Err != nil {
		t.Fatalf("RunPass after the payloads expired = %+v, want 2 payloads", p)
	}
	for _, id := range []string{short1, short2} {
		b.wantPayloadState(t, id, sluice.PayloadExpired)
		if _, err := b.store.Payload(b.ctx, b.tenantID, id); sluice.ErrorCode(err) != sluice.EGONE {
			t.Fatalf("Payload after the pass: %v, want gone", err)
		}
	}
	b.wantPayloadState(t, long, sluice.PayloadRetained)
	if log := logs.String(); !strings.Contains(log, "retention purged") || !strings.Contains(log, "payloads=2") {
		t.Fatalf("log after purging does not report the count: %q", log)
	}

	// Past the metadata retention the events go, payload or not; a newer
	// event stays.
	b.clock.Advance(71*time.Hour + time.Millisecond)
	if !b.clock.Now().Add(-72 * time.Hour).After(start) {
		t.Fatal("test clock is not past the metadata retention")
	}
	fresh := b.event(t, time.Hour)
	if p := s.RunPass(b.ctx); p.Payloads != 0 || p.Events != 3 || p.Err != nil {
		t.Fatalf("RunPass after the metadata retention = %+v, want 3 events", p)
	}
	for _, id := range []string{short1, short2, long} {
		b.wantEventGone(t, id)
	}
	b.wantPayloadState(t, fresh, sluice.PayloadRetained)
	if p := s.RunPass(b.ctx); p != (retention.Pass{}) {
		t.Fatalf("RunPass with nothing left due = %+v", p)
	}

	// Past the audit retention, the audit entries of the tenant's set-up
	// go, and the observations of the type first seen then.
	before, _, err := b.store.AuditLog(b.ctx, b.tenantID, sluice.Page{})
	if err != nil || len(before) == 0 {
		t.Fatalf("audit log before = %d entries, %v", len(before), err)
	}
	b.clock.Advance(30 * time.Hour)
	if p := s.RunPass(b.ctx); p.Audit < len(before) || p.Err != nil {
		t.Fatalf("RunPass after the audit retention = %+v, want at least the %d audit entries", p, len(before))
	}
	if after, _, _ := b.store.AuditLog(b.ctx, b.tenantID, sluice.Page{}); len(after) != 0 {
		t.Fatalf("audit log after the audit retention = %d entries, want none", len(after))
	}
	if log := logs.String(); strings.Contains(log, "ada@example.com") || strings.Contains(log, "customer.updated") {
		t.Fatal("the log carries payload content")
	}
}

// A backlog larger than one batch is worked off in one pass, batch by batch.
func TestRunPassDrainsBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t, sluice.Retention{Metadata: time.Hour})
	var payloadLimits, metadataLimits []int
	store := &fakeStore{
		purgePayloads: func(ctx context.Context, now time.Time, limit int) (int, error) {
			payloadLimits = append(payloadLimits, limit)
			return b.store.PurgeExpiredPayloads(ctx, now, limit)
		},
		purgeMetadata: func(ctx context.Context, now time.Time, limit int) (int, error) {
			metadataLimits = append(metadataLimits, limit)
			return b.store.PurgeMetadata(ctx, now, limit)
		},
	}
	s := newService(t, retention.Config{Store: store, Now: b.clock.Now, BatchSize: 3, Logger: slog.New(slog.DiscardHandler)})
	var ids []string
	for range 10 {
		ids = append(ids, b.event(t, time.Minute))
	}
	b.clock.Advance(time.Minute)
	if p := s.RunPass(b.ctx); p.Payloads != 10 || p.Events != 0 || p.Err != nil {
		t.Fatalf("RunPass over a payload backlog = %+v, want all 10 payloads", p)
	}
	if want := []int{3, 3, 3, 3}; !slices.Equal(payloadLimits, want) {
		t.Fatalf("payload batches with limits %v, want %v", payloadLimits, want)
	}
	for _, id := range ids {
		b.wantPayloadState(t, id, sluice.PayloadExpired)
	}

	payloadLimits, metadataLimits = nil, nil
	b.clock.Advance(2 * time.Hour)
	if p := s.RunPass(b.ctx); p.Payloads != 0 || p.Events != 10 || p.Err != nil {
		t.Fatalf("RunPass over a metadata backlog = %+v, want all 10 events", p)
	}
	if want := []int{3, 3, 3, 3}; !slices.Equal(metadataLimits, want) {
		t.Fatalf("metadata batches with limits %v, want %v", metadataLimits, want)
	}
	for _, id := range ids {
		b.wantEventGone(t, id)
	}
}

// A backlog that never ends does not hold one pass forever.
func TestRunPassBounded(t *testing.T) {
	t.Parallel()
	var calls int
	full := func(_ context.Context, _ time.Time, limit int) (int, error) {
		calls++
		return limit, nil
	}
	s := newService(t, retention.Config{Store: &fakeStore{purgePayloads: full, purgeMetadata: full}, BatchSize: 2,
		Logger: slog.New(slog.DiscardHandler)})
	p := s.RunPass(context.Background())
	if p.Err != nil || calls < 4 || p.Payloads+p.Events != 2*calls || p.Payloads == 0 || p.Events == 0 {
		t.Fatalf("RunPass over an endless backlog = %+v after %d calls", p, calls)
	}
}

func TestPassError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk I/O error")
	var metadataCalled bool
	var logs testlog.Buffer
	store := &fakeStore{
		purgePayloads: func(context.Context, time.Time, int) (int, error) { return 2, boom },
		purgeMetadata: func(context.Context, time.Time, int) (int, error) {
			metadataCalled = true
			return 0, nil
		},
	}
	s := newService(t, retention.Config{Store: store, Logger: newLogger(&logs)})
	p := s.RunPass(context.Background())
	if !errors.Is(p.Err, boom) || p.Payloads != 2 {
		t.Fatalf("RunPass with a failing store = %+v, want the error and the 2 purged before it", p)
	}
	if metadataCalled {
		t.Fatal("metadata purged after the payload purge failed")
	}
	if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "retention pass failed") ||
		!strings.Contains(log, boom.Error()) {
		t.Fatalf("the failure is not logged as an error: %q", log)
	}

	// A failing metadata purge is reported too, through OnPass.
	store.purgePayloads = func(context.Context, time.Time, int) (int, error) { return 0, nil }
	store.purgeMetadata = func(context.Context, time.Time, int) (int, error) { return 0, boom }
	onPass, ch := passes()
	s = newService(t, retention.Config{Store: store, Interval: time.Hour, Logger: newLogger(&logs), OnPass: onPass})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer stopPromptly(t, s)
	if p := nextPass(t, ch); !errors.Is(p.Err, boom) {
		t.Fatalf("pass with a failing metadata purge = %+v, want the error", p)
	}
}

// Start runs a pass at once, without waiting for the first interval.
func TestStartPassesAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, sluice.Retention{})
	id := b.event(t, time.Minute)
	b.clock.Advance(time.Minute)
	onPass, ch := passes()
	s := newService(t, retention.Config{Store: b.store, Now: b.clock.Now, Interval: time.Hour,
		Logger: slog.New(slog.DiscardHandler), OnPass: onPass})
	if err := s.Start(b.ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if p := nextPass(t, ch); p.Payloads != 1 || p.Err != nil {
		t.Fatalf("first pass = %+v, want the expired payload", p)
	}
	b.wantPayloadState(t, id, sluice.PayloadExpired)
	// Stop does not wait for the hour-long interval, and a second Stop is
	// harmless.
	stopPromptly(t, s)
	stopPromptly(t, s)
}

func TestStartPassesOnInterval(t *testing.T) {
	t.Parallel()
	b := setup(t, sluice.Retention{})
	var count atomic.Int64
	onPass, ch := passes()
	s := newService(t, retention.Config{Store: b.store, Now: b.clock.Now, Interval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler), OnPass: func(p retention.Pass) {
			count.Add(1)
			onPass(p)
		}})
	if err := s.Start(b.ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if p := nextPass(t, ch); p != (retention.Pass{}) {
		t.Fatalf("first pass = %+v, want nothing purged", p)
	}
	// Work that becomes due between passes is picked up by a later one.
	id := b.event(t, time.Minute)
	b.clock.Advance(time.Minute)
	deadline := time.After(wait)
	for purged := false; !purged; {
		select {
		case p := <-ch:
			if p.Err != nil {
				t.Fatalf("pass failed: %v", p.Err)
			}
			purged = p.Payloads == 1
		case <-deadline:
			t.Fatalf("no pass purged the payload within %v (%d passes)", wait, count.Load())
		}
	}
	b.wantPayloadState(t, id, sluice.PayloadExpired)
	nextPass(t, ch)
	if n := count.Load(); n < 3 {
		t.Fatalf("%d passes, want at least 3", n)
	}
	stopPromptly(t, s)
	after := count.Load()
	stopPromptly(t, s)
	if n := count.Load(); n != after {
		t.Fatalf("%d passes ran after Stop returned", n-after)
	}
}

// Cancelling Start's context ends the service too.
func TestStartContext(t *testing.T) {
	t.Parallel()
	store := &fakeStore{
		purgePayloads: func(context.Context, time.Time, int) (int, error) { return 0, nil },
		purgeMetadata: func(context.Context, time.Time, int) (int, error) { return 0, nil },
	}
	onPass, ch := passes()
	s := newService(t, retention.Config{Store: store, Interval: time.Hour, OnPass: onPass})
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	nextPass(t, ch)
	cancel()
	stopPromptly(t, s)

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	s = newService(t, retention.Config{Store: store})
	if err := s.Start(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
}

// Stop before Start returns at once; Start after Start or Stop is refused.
func TestStartStopEdges(t *testing.T) {
	t.Parallel()
	none := func(context.Context, time.Time, int) (int, error) { return 0, nil }
	store := &fakeStore{purgePayloads: none, purgeMetadata: none}
	never, err := retention.New(retention.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	never.Stop()
	never.Stop()
	if err := never.Start(context.Background()); err == nil {
		t.Error("Start after Stop succeeded")
	}
	twice, err := retention.New(retention.Config{Store: store, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := twice.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := twice.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	twice.Stop()
}

// With an Exclusive hook a pass runs only when the hook grants it.
func TestExclusivePass(t *testing.T) {
	t.Parallel()
	calls := 0
	purge := func(context.Context, time.Time, int) (int, error) { calls++; return 0, nil }
	granted := true
	var names []string
	svc, err := retention.New(retention.Config{
		Store: &fakeStore{purgePayloads: purge, purgeMetadata: purge},
		Exclusive: func(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
			names = append(names, name)
			if !granted {
				return false, nil
			}
			return true, fn(ctx)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := svc.RunPass(context.Background()); p.Skipped || p.Err != nil || calls != 2 {
		t.Fatalf("granted pass: %+v after %d purge calls, want both purges run", p, calls)
	}
	granted = false
	if p := svc.RunPass(context.Background()); !p.Skipped || calls != 2 {
		t.Fatalf("refused pass: %+v after %d purge calls, want skipped without purging", p, calls)
	}
	if len(names) != 2 || names[0] != names[1] || names[0] == "" {
		t.Errorf("exclusive names %v, want one stable name", names)
	}
}

// AfterPurge runs in every pass, after the purges and before the scrub, so
// that the scrub removes what it deleted too; its error is the pass's,
// and the scrub still runs. Here it retires a rotated data key.
func TestAfterPurge(t *testing.T) {
	t.Parallel()
	b := setup(t, sluice.Retention{})
	var order []string
	store := &fakeStore{
		purgePayloads: func(ctx context.Context, now time.Time, limit int) (int, error) {
			order = append(order, "payloads")
			return b.store.PurgeExpiredPayloads(ctx, now, limit)
		},
		purgeMetadata: func(ctx context.Context, cutoff time.Time, limit int) (int, error) {
			order = append(order, "metadata")
			return b.store.PurgeMetadata(ctx, cutoff, limit)
		},
	}
	var retired int
	var fail error
	s := newService(t, retention.Config{Store: store, Now: b.clock.Now, Logger: slog.New(slog.DiscardHandler),
		AfterPurge: func(ctx context.Context) error {
			order = append(order, "after")
			r, err := b.store.RetireDataKeys(ctx)
			retired += r.Retired
			return errors.Join(err, fail)
		}})
	if _, err := b.store.RotateDataKey(b.ctx, b.tenantID); err != nil {
		t.Fatal(err)
	}
	if p := s.RunPass(b.ctx); p.Err != nil || retired != 0 {
		t.Fatalf("pass right after the rotation = %+v, retired %d; want nothing retired", p, retired)
	}
	if want := []string{"payloads", "metadata", "after"}; !slices.Equal(order, want) || store.scrubs.Load() != 1 {
		t.Fatalf("pass ran %v and %d scrubs, want %v and then one scrub", order, store.scrubs.Load(), want)
	}
	b.clock.Advance(engine.DefaultRetireAfter + time.Minute)
	if p := s.RunPass(b.ctx); p.Err != nil || retired != 1 {
		t.Fatalf("pass after RetireAfter = %+v, retired %d; want the old key retired", p, retired)
	}
	if d, _, err := b.store.Destinations(b.ctx, b.tenantID, sluice.Page{}); err != nil || len(d) != 1 || d[0].URL != "https://example.com/hook" {
		t.Fatalf("the destination after its key was retired: %v", err)
	}
	fail = errors.New("boom")
	scrubs := store.scrubs.Load()
	if p := s.RunPass(b.ctx); !errors.Is(p.Err, fail) || store.scrubs.Load() != scrubs+1 {
		t.Fatalf("pass with a failing AfterPurge = %+v, %d scrubs; want its error, and the scrub", p, store.scrubs.Load()-scrubs)
	}
}
