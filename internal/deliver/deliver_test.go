package deliver_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A delivery that fails twice and then succeeds: every request verifies with
// both reference libraries, carries the stored bytes and the same
// webhook-id, and the attempts follow the retry schedule.
func TestRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, 500, 502, 204)
	dest := b.destination(t, recv.URL)
	body := []byte("{\"email\":\"ada@example.com\",\n \"amount\": 42 }") // not re-encoded, odd spacing kept
	ev := b.event(t, "invoice.paid", body, "application/vnd.test+json")
	schedule := []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	b.start(t, deliver.Config{RetrySchedule: schedule})

	dlv := b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	if dlv.Attempts != 3 {
		t.Errorf("delivery attempts = %d, want 3", dlv.Attempts)
	}
	reqs := recv.received()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if !bytes.Equal(r.body, body) {
			t.Errorf("request %d body = %q, want %q", i, r.body, body)
		}
		if got := r.header.Get("Content-Type"); got != "application/vnd.test+json" {
			t.Errorf("request %d content-type = %q", i, got)
		}
		if got, want := r.header.Get("User-Agent"), sluice.UserAgent(); got != want {
			t.Errorf("request %d user-agent = %q, want %q", i, got, want)
		}
		if got := r.header.Get("webhook-id"); got != ev.ID {
			t.Errorf("request %d webhook-id = %q, want the event id %q", i, got, ev.ID)
		}
		if got := r.header.Get(sluice.HeaderEventType); got != "invoice.paid" {
			t.Errorf("request %d %s = %q, want the event's type", i, sluice.HeaderEventType, got)
		}
		if got := r.header.Get(sluice.HeaderHops); got != "1" {
			t.Errorf("request %d %s = %q, want 1 for an event published here", i, sluice.HeaderHops, got)
		}
		verifyBoth(t, dest.Secret, r)
	}

	as := b.attempts(t, ev.ID)
	if len(as) != 3 {
		t.Fatalf("recorded %d attempts, want 3", len(as))
	}
	for i, a := range as {
		wantOutcome, wantStatus, wantErr := sluice.AttemptFailed, []int{500, 502}[min(i, 1)], "http_status"
		if i == 2 {
			wantOutcome, wantStatus, wantErr = sluice.AttemptSucceeded, 204, ""
		}
		if a.Number != i+1 || a.Outcome != wantOutcome || a.HTTPStatus != wantStatus || a.Error != wantErr ||
			a.DeliveryID != dlv.ID || a.DestinationID != dest.ID {
			t.Errorf("attempt %d = %+v, want number %d, %s, status %d, error %q", i, a, i+1, wantOutcome, wantStatus, wantErr)
		}
		if i > 0 {
			// The delay is 100ms with -20 % jitter at most; At is stored in ms.
			if gap := a.At.Sub(as[i-1].At); gap < 79*time.Millisecond {
				t.Errorf("attempt %d came %s after the previous one, want at least 80ms", i+1, gap)
			}
		}
	}
	assertLogsClean(t, b, recv.URL, dest.Secret, "ada@example.com")
}

// verifyBoth checks a received request with the Standard Webhooks and Svix
// reference verifiers.
func verifyBoth(t *testing.T, secret string, r received) {
	t.Helper()
	sw, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Verify(r.body, r.header); err != nil {
		t.Errorf("standard-webhooks Verify: %v", err)
	}
	sv, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Verify(r.body, r.header); err != nil {
		t.Errorf("svix Verify: %v", err)
	}
	ts := r.header.Get("webhook-timestamp")
	if d := r.at.Sub(time.Unix(mustAtoi(t, ts), 0)); d < -time.Second || d > 2*time.Second {
		t.Errorf("webhook-timestamp %s is %s away from the request time", ts, d)
	}
}

// assertLogsClean fails if the dispatcher logged anything personal or secret.
func assertLogsClean(t *testing.T, b *testBundle, secrets ...string) {
	t.Helper()
	logs := b.logs.String()
	if logs == "" {
		t.Error("the dispatcher logged nothing at debug level")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
	if strings.Contains(logs, "127.0.0.1") {
		t.Errorf("logs contain a destination address:\n%s", logs)
	}
}

// A payload stored without a content type is sent as JSON.
func TestDefaultContentType(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, 200)
	dest := b.destination(t, recv.URL)
	ev := b.event(t, "user.created", []byte(`{"id":1}`), "")
	b.start(t, deliver.Config{})

	b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	reqs := recv.received()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	if got := reqs[0].header.Get("Content-Type"); got != "application/json" {
		t.Errorf("content-type = %q, want application/json", got)
	}
	verifyBoth(t, dest.Secret, reqs[0])
}

// Wake makes a dispatcher that would not poll for an hour deliver at once.
// Each event is stored after the previous delivery ended, by when the
// dispatcher has gone idle, so only Wake can start its delivery.
func TestWake(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, 200)
	b.destination(t, recv.URL)
	d := b.start(t, deliver.Config{PollInterval: time.Hour})
	for range 3 {
		ev := b.event(t, "user.created", []byte(`{}`), "")
		d.Wake()
		b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, cfg := range map[string]deliver.Config{
		"no store":          {RetrySchedule: []time.Duration{0}},
		"no schedule":       {Store: b.store},
		"negative delay":    {Store: b.store, RetrySchedule: []time.Duration{0, -time.Second}},
		"lease under limit": {Store: b.store, RetrySchedule: []time.Duration{0}, Timeout: time.Minute},
		"negative workers":  {Store: b.store, RetrySchedule: []time.Duration{0}, Workers: -1},
	} {
		if _, err := deliver.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
	if _, err := deliver.New(deliver.Config{Store: b.store, RetrySchedule: []time.Duration{0}}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// recordingStore is the bundle's store, noting how many attempts each
// RecordAttempts call records; the first call waits for release.
type recordingStore struct {
	deliver.Store
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func (s *recordingStore) RecordAttempts(ctx context.Context, rs []*sluice.AttemptResult) []sluice.AttemptRecorded {
	s.mu.Lock()
	first := len(s.sizes) == 0
	s.sizes = append(s.sizes, len(rs))
	s.mu.Unlock()
	if first {
		<-s.release
	}
	return s.Store.RecordAttempts(ctx, rs)
}

func (s *recordingStore) recorded() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// Successes made while the store records others are recorded together, in
// one RecordAttempts, and every one of them is recorded.
func TestSuccessesAreRecordedInBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rcv := newReceiver(t, http.StatusOK)
	b.destination(t, rcv.URL)
	const n = 20
	var events []*sluice.Event
	for range n {
		events = append(events, b.event(t, "x.y", []byte(`{}`), ""))
	}
	store := &recordingStore{Store: b.store, release: make(chan struct{})}
	b.start(t, deliver.Config{Store: store, Workers: n, PerDestination: n})
	// Every delivery is sent while the first recording waits.
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(rcv.received()) == n },
		func() string { return fmt.Sprintf("%d of %d deliveries arrived", len(rcv.received()), n) })
	close(store.release)
	for _, e := range events {
		b.waitDelivery(t, e.ID, sluice.DeliverySucceeded, 10*time.Second)
	}
	sizes := store.recorded()
	total, most := 0, 0
	for _, size := range sizes {
		total += size
		most = max(most, size)
	}
	if total != n || len(sizes) >= n || most < 2 {
		t.Errorf("RecordAttempts calls recorded %v attempts; want %d in all, in batches", sizes, n)
	}
}
