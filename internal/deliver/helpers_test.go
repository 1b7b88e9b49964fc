package deliver_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/signature"
	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/internal/testlog"
)

// testBundle is a real SQLite store with one tenant, and a buffer holding
// everything the dispatcher logged.
type testBundle struct {
	ctx    context.Context
	store  *engine.Store
	tenant *sluice.Tenant
	logs   *testlog.Buffer
}

func setup(t *testing.T) *testBundle { return setupWith(t, testkit.StoreOptions{}) }

// setupWith opens the store with the options, such as the health policy
// it applies as attempts are recorded.
func setupWith(t *testing.T, o testkit.StoreOptions) *testBundle {
	t.Helper()
	return setupOn(t, testkit.SQLiteStore(t, o))
}

// setupOn is setup on the given store.
func setupOn(t *testing.T, store *engine.Store) *testBundle {
	t.Helper()
	ctx := context.Background()
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "test"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := store.CreateTenant(ctx, ten, key); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	return &testBundle{ctx: ctx, store: store, tenant: ten, logs: &testlog.Buffer{}}
}

// destination stores an enabled destination for url receiving the given
// event type patterns (default "*").
func (b *testBundle) destination(t *testing.T, url string, eventTypes ...string) *sluice.Destination {
	t.Helper()
	if len(eventTypes) == 0 {
		eventTypes = []string{"*"}
	}
	d := &sluice.Destination{
		ID:         sluice.NewID(sluice.PrefixDestination),
		TenantID:   b.tenant.ID,
		Name:       "receiver",
		URL:        url,
		EventTypes: eventTypes,
		Secret:     signature.NewSecret(),
		Enabled:    true,
	}
	if err := b.store.CreateDestination(b.ctx, d); err != nil {
		t.Fatalf("create destination: %v", err)
	}
	return d
}

// event stores a published event of eventType, due at once at every
// matching destination.
func (b *testBundle) event(t *testing.T, eventType string, body []byte, contentType string) *sluice.Event {
	t.Helper()
	now := time.Now()
	created, err := b.store.CreateEvent(b.ctx, &sluice.NewEvent{
		Event: sluice.Event{
			ID:         sluice.NewID(sluice.PrefixEvent),
			TenantID:   b.tenant.ID,
			Type:       eventType,
			Direction:  sluice.Outbound,
			ReceivedAt: now,
		},
		Payload: sluice.Payload{Body: body, ContentType: contentType, ExpiresAt: now.Add(30 * 24 * time.Hour)},
	}, 0)
	if err != nil {
		t.Fatalf("create event: %v", err)
	}
	return created.Event
}

// start runs a dispatcher, on the bundle's store unless cfg names one, with
// short test defaults for the fields cfg leaves zero, stopped at cleanup.
func (b *testBundle) start(t *testing.T, cfg deliver.Config) *deliver.Dispatcher {
	t.Helper()
	if cfg.Store == nil {
		cfg.Store = b.store
	}
	cfg.Logger = slog.New(slog.NewTextHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.RetrySchedule == nil {
		cfg.RetrySchedule = []time.Duration{0}
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2*cfg.Timeout + time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	// The test servers listen on loopback.
	cfg.Policy.AllowPrivate = true
	d, err := deliver.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(b.ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(d.Stop)
	return d
}

// waitDelivery polls until the event's only delivery has the given status,
// and returns it.
func (b *testBundle) waitDelivery(t *testing.T, eventID string, status sluice.DeliveryStatus, within time.Duration) *sluice.Delivery {
	t.Helper()
	var last *sluice.Delivery
	testkit.WaitFor(t, within, func() bool {
		ds, err := b.store.Deliveries(b.ctx, b.tenant.ID, eventID)
		if err != nil {
			t.Fatalf("deliveries: %v", err)
		}
		if len(ds) != 1 {
			t.Fatalf("event has %d deliveries, want 1", len(ds))
		}
		last = ds[0]
		return last.Status == status
	}, func() string { return fmt.Sprintf("delivery status %s, want %s", last.Status, status) })
	return last
}

func (b *testBundle) attempts(t *testing.T, eventID string) []*sluice.Attempt {
	t.Helper()
	as, err := b.store.Attempts(b.ctx, b.tenant.ID, eventID)
	if err != nil {
		t.Fatalf("attempts: %v", err)
	}
	return as
}

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a loopback HTTP server that answers with the statuses of
// respond in turn (the last one repeating) and keeps every request.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
}

func newReceiver(t *testing.T, respond ...int) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(req.Body)
		r.mu.Lock()
		n := len(r.requests)
		r.requests = append(r.requests, received{header: req.Header.Clone(), body: body.Bytes(), at: time.Now()})
		r.mu.Unlock()
		w.WriteHeader(respond[min(n, len(respond)-1)])
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not an integer: %q", s)
	}
	return n
}
