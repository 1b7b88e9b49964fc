package deliver_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
)

// assertAttempts checks the recorded attempts' outcome, HTTP status and
// error class, in order.
func assertAttempts(t *testing.T, got []*sluice.Attempt, want ...sluice.Attempt) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("recorded %d attempts, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Number != i+1 || g.Outcome != w.Outcome || g.HTTPStatus != w.HTTPStatus || g.Error != w.Error {
			t.Errorf("attempt %d = number %d, %s, status %d, error %q; want %s, status %d, error %q",
				i+1, g.Number, g.Outcome, g.HTTPStatus, g.Error, w.Outcome, w.HTTPStatus, w.Error)
		}
	}
}

func failed(status int, class string) sluice.Attempt {
	return sluice.Attempt{Outcome: sluice.AttemptFailed, HTTPStatus: status, Error: class}
}

// After the last scheduled attempt fails, the delivery is exhausted.
func TestExhaustedAfterLastAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, 500)
	b.destination(t, recv.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{RetrySchedule: []time.Duration{0, 20 * time.Millisecond, 20 * time.Millisecond}})

	dlv := b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	if dlv.Attempts != 3 || !dlv.NextAttemptAt.IsZero() {
		t.Errorf("delivery = %+v, want 3 attempts and no next attempt", dlv)
	}
	assertAttempts(t, b.attempts(t, ev.ID), failed(500, "http_status"), failed(500, "http_status"), failed(500, "http_status"))
	if n := len(recv.received()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
}

// 410 Gone disables the destination and ends the delivery without a retry.
func TestGoneDisablesDestination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	recv := newReceiver(t, http.StatusGone)
	dest := b.destination(t, recv.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{RetrySchedule: []time.Duration{0, 0, 0}})

	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	assertAttempts(t, b.attempts(t, ev.ID), failed(410, "http_status"))
	got, err := b.store.Destination(b.ctx, b.tenant.ID, dest.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled || got.DisabledReason != sluice.DisabledGone {
		t.Errorf("destination enabled = %v, reason %q; want disabled, %q", got.Enabled, got.DisabledReason, sluice.DisabledGone)
	}
}

// A redirect fails the attempt; its target is never contacted.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	target := newReceiver(t, 200)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	t.Cleanup(redirector.Close)
	b.destination(t, redirector.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{})

	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	assertAttempts(t, b.attempts(t, ev.ID), failed(302, "redirect"))
	if n := len(target.received()); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

// 429 with Retry-After holds the next attempt back for that long, whatever
// the schedule says.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	b.destination(t, srv.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{RetrySchedule: []time.Duration{0, 10 * time.Millisecond}})

	b.waitDelivery(t, ev.ID, sluice.DeliverySucceeded, 5*time.Second)
	as := b.attempts(t, ev.ID)
	assertAttempts(t, as, failed(429, "http_status"), sluice.Attempt{Outcome: sluice.AttemptSucceeded, HTTPStatus: 200})
	if gap := as[1].At.Sub(as[0].At); gap < time.Second-2*time.Millisecond {
		t.Errorf("second attempt came %s after a Retry-After of 1s", gap)
	}
}

// Retry-After cannot buy a delivery more attempts than the schedule has.
func TestRetryAfterOnLastAttemptExhausts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	b.destination(t, srv.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	b.start(t, deliver.Config{})

	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	assertAttempts(t, b.attempts(t, ev.ID), failed(503, "http_status"))
}

// A receiver that never answers fails the attempt with "timeout" once the
// delivery timeout has passed.
func TestHangingReceiverTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	defer close(release)
	b.destination(t, srv.URL)
	ev := b.event(t, "invoice.paid", []byte(`{}`), "")
	const timeout = 200 * time.Millisecond
	b.start(t, deliver.Config{Timeout: timeout})

	b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 5*time.Second)
	as := b.attempts(t, ev.ID)
	assertAttempts(t, as, failed(0, "timeout"))
	if d := as[0].Duration; d < timeout-5*time.Millisecond || d > timeout+time.Second {
		t.Errorf("attempt took %s with a timeout of %s", d, timeout)
	}
}

// Network failures are classified without keeping the client's error text.
func TestConnectionFailures(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens on its port any more
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)

	for _, tc := range []struct{ name, url, class string }{
		{"refused", closed.URL, "refused"},
		{"unresolvable", "http://sluice-test.invalid/hook", "dns"},
		{"untrusted certificate", untrusted.URL, "tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.destination(t, tc.url)
			ev := b.event(t, "invoice.paid", []byte(`{}`), "")
			b.start(t, deliver.Config{})
			b.waitDelivery(t, ev.ID, sluice.DeliveryExhausted, 10*time.Second)
			assertAttempts(t, b.attempts(t, ev.ID), failed(0, tc.class))
		})
	}
}
