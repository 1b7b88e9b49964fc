package deliver_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/deliver"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// setRateLimit gives the destination a rate limit.
func (b *testBundle) setRateLimit(t *testing.T, d *sluice.Destination, perSecond int) {
	t.Helper()
	d.RateLimitPerSecond = perSecond
	if err := b.store.UpdateDestination(b.ctx, d); err != nil {
		t.Fatalf("update destination: %v", err)
	}
}

func (b *testBundle) reload(t *testing.T, d *sluice.Destination) *sluice.Destination {
	t.Helper()
	got, err := b.store.Destination(b.ctx, b.tenant.ID, d.ID)
	if err != nil {
		t.Fatalf("destination: %v", err)
	}
	return got
}

func (b *testBundle) hasAudit(t *testing.T, action, resourceID string) bool {
	t.Helper()
	entries, _, err := b.store.AuditLog(b.ctx, b.tenant.ID, sluice.Page{Limit: 500})
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	return slices.ContainsFunc(entries, func(e *sluice.AuditEntry) bool { return e.Action == action && e.ResourceID == resourceID })
}

// 100 events to a destination limited to 10 a second take about 10 s to
// deliver, all on their first attempt, never more than 10 in a second;
// another destination's 100 are not held up behind them.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	slow, fast := newReceiver(t, 200), newReceiver(t, 200)
	limited := b.destination(t, slow.URL, "slow.*")
	b.setRateLimit(t, limited, 10)
	b.destination(t, fast.URL, "fast.*")
	var slowEvents []*sluice.Event
	for range 100 {
		slowEvents = append(slowEvents, b.event(t, "slow.tick", []byte(`{}`), ""))
		b.event(t, "fast.tick", []byte(`{}`), "")
	}
	b.start(t, deliver.Config{})

	testkit.WaitFor(t, 10*time.Second, func() bool { return len(fast.received()) == 100 },
		func() string { return "the unlimited destination did not get its 100" })
	// A rate limit of 10/s cannot have let the 30th out before 2.9 s.
	if n := len(slow.received()); n >= 30 {
		t.Errorf("the limited destination had %d requests when the other finished: it was held up", n)
	}
	testkit.WaitFor(t, 30*time.Second, func() bool { return len(slow.received()) == 100 },
		func() string { return "the limited destination did not get its 100" })

	reqs := slow.received()
	span := reqs[99].at.Sub(reqs[0].at)
	if span < 9800*time.Millisecond {
		t.Errorf("100 deliveries at 10/s took %s, want at least 9.9 s", span)
	}
	for i := range reqs {
		inSecond := 0
		for _, r := range reqs[i:] {
			if r.at.Sub(reqs[i].at) < time.Second {
				inSecond++
			}
		}
		if inSecond > 12 { // 10, and room for the network's jitter
			t.Fatalf("%d requests within a second from request %d: a burst", inSecond, i)
		}
	}
	// Attempts are recorded after their responses: wait for the last.
	for _, e := range slowEvents {
		var as []*sluice.Attempt
		testkit.WaitFor(t, 10*time.Second, func() bool { as = b.attempts(t, e.ID); return len(as) > 0 },
			func() string { return "event " + e.ID + ": its attempt was never recorded" })
		if len(as) != 1 || as[0].Outcome != sluice.AttemptSucceeded {
			t.Fatalf("event %s: %d attempts, want 1 successful: waiting must not fail", e.ID, len(as))
		}
	}
	t.Logf("100 deliveries at 10/s: %s from the first to the last", span.Round(time.Millisecond))
}

// After 10 consecutive failed attempts the destination is paused: nothing
// is sent for the pause, then one probe goes; its success closes the
// circuit and the rest flow. Both changes are audited.
func TestCircuitBreakerPausesAndResumes(t *testing.T) {
	t.Parallel()
	const pause = 300 * time.Millisecond
	b := setupWith(t, testkit.StoreOptions{Health: engine.Health{OpenAfter: 10, Pause: pause, MaxPause: time.Second}})
	failures := make([]int, 10)
	for i := range failures {
		failures[i] = http.StatusInternalServerError
	}
	recv := newReceiver(t, append(failures, http.StatusOK)...)
	dest := b.destination(t, recv.URL)
	for range 12 {
		b.event(t, "x.y", []byte(`{}`), "")
	}
	retries := slices.Repeat([]time.Duration{10 * time.Millisecond}, 20)
	b.start(t, deliver.Config{RetrySchedule: retries, PerDestination: 1})

	testkit.WaitFor(t, 5*time.Second, func() bool { return b.reload(t, dest).State() == sluice.StatePaused },
		func() string { return "the destination did not pause" })
	if got := b.reload(t, dest); got.Failures != 10 {
		t.Errorf("paused after %d failures, want 10", got.Failures)
	}
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(recv.received()) == 10+12 },
		func() string { return "the deliveries did not all go after the pause" })
	reqs := recv.received()
	if gap := reqs[10].at.Sub(reqs[9].at); gap < pause {
		t.Errorf("the probe went %s after the 10th failure, within the %s pause", gap, pause)
	}
	testkit.WaitFor(t, 5*time.Second, func() bool { return b.reload(t, dest).State() == sluice.StateActive },
		func() string { return "the destination did not resume" })
	if !b.hasAudit(t, "destination.pause", dest.ID) || !b.hasAudit(t, "destination.resume", dest.ID) {
		t.Error("the pause and the resume are not both in the audit log")
	}
}

// Each rate-limited destination's next start wakes the dispatcher, not
// only the soonest of them: a destination limited to 4 a second gets its
// deliveries at that pace although a faster one's start, due sooner, set
// the wake-up timer, and the poll is too slow to make up for it.
func TestRateLimitedStartsWakeTheDispatcherEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	slow, fast := newReceiver(t, 200), newReceiver(t, 200)
	b.setRateLimit(t, b.destination(t, slow.URL, "slow.*"), 4)
	b.setRateLimit(t, b.destination(t, fast.URL, "fast.*"), 20)
	for range 3 {
		b.event(t, "slow.tick", []byte(`{}`), "")
	}
	b.event(t, "fast.tick", []byte(`{}`), "")
	const poll = time.Minute
	b.start(t, deliver.Config{PollInterval: poll})

	// 3 at 4 a second take half a second; without a wake-up for each start
	// the second would wait for the poll.
	testkit.WaitFor(t, 10*time.Second, func() bool { return len(slow.received()) == 3 },
		func() string { return "the slower destination's deliveries waited for the poll" })
	if n := len(fast.received()); n != 1 {
		t.Errorf("the faster destination got %d requests, want 1", n)
	}
}

// A destination failing with no success for 5 days is disabled, on the
// dispatcher's clock, and a destination subscribed to
// sluice.destination.disabled is told, with a signature that verifies.
func TestAutoDisableAfterFiveDays(t *testing.T) {
	t.Parallel()
	b := setup(t)
	down := newReceiver(t, http.StatusServiceUnavailable)
	alerts := newReceiver(t, http.StatusOK)
	dest := b.destination(t, down.URL)
	alertDest := b.destination(t, alerts.URL, sluice.NoticeDestinationDisabled)
	ev := b.event(t, "x.y", []byte(`{}`), "")
	clock := testkit.ClockAt(time.Now())
	d := b.start(t, deliver.Config{RetrySchedule: []time.Duration{0, 48 * time.Hour, 48 * time.Hour, 48 * time.Hour},
		Now: clock.Now})

	for want := 1; want <= 2; want++ {
		// Recorded, not only received: the clock moves only once the
		// retry is scheduled from the time of the attempt.
		testkit.WaitFor(t, 5*time.Second, func() bool { return len(b.attempts(t, ev.ID)) == want },
			func() string { return "attempt did not happen" })
		if got := b.reload(t, dest); !got.Enabled {
			t.Fatalf("disabled after %d attempts over %d days", want, 3*(want-1))
		}
		clock.Advance(3 * 24 * time.Hour) // past the retry, jitter included
		d.Wake()
	}
	testkit.WaitFor(t, 5*time.Second, func() bool { return !b.reload(t, dest).Enabled },
		func() string { return "the destination was not disabled after 6 days failing" })
	if got := b.reload(t, dest); got.DisabledReason != sluice.DisabledFailing || got.State() != sluice.StateDisabled {
		t.Fatalf("destination = state %q, reason %q", got.State(), got.DisabledReason)
	}
	if !b.hasAudit(t, "destination.disable", dest.ID) {
		t.Error("no destination.disable audit entry")
	}

	testkit.WaitFor(t, 5*time.Second, func() bool { return len(alerts.received()) == 1 },
		func() string { return "no sluice.destination.disabled notice arrived" })
	r := alerts.received()[0]
	wh, err := standardwebhooks.NewWebhook(alertDest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	// Signed at the dispatcher's clock, 6 days ahead: verify all but the
	// timestamp's freshness.
	if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
		t.Fatalf("notice signature: %v", err)
	}
	var notice map[string]any
	if err := json.Unmarshal(r.body, &notice); err != nil {
		t.Fatalf("notice body: %v", err)
	}
	if notice["destination_id"] != dest.ID || notice["reason"] != sluice.DisabledFailing || notice["at"] == nil || len(notice) != 3 {
		t.Fatalf("notice = %v", notice)
	}
}

// An exhausted delivery is announced as sluice.delivery.exhausted; once
// recovered and delivered, as sluice.delivery.recovered. "*" gets neither.
func TestDeliveryNotices(t *testing.T) {
	t.Parallel()
	b := setup(t)
	flaky := newReceiver(t, http.StatusInternalServerError, http.StatusInternalServerError, http.StatusOK)
	alerts, everything := newReceiver(t, http.StatusOK), newReceiver(t, http.StatusOK)
	dest := b.destination(t, flaky.URL, "invoice.*")
	alertDest := b.destination(t, alerts.URL, "sluice.*")
	b.destination(t, everything.URL, "*")
	ev := b.event(t, "invoice.paid", []byte(`{"amount":1}`), "")
	d := b.start(t, deliver.Config{RetrySchedule: []time.Duration{0, 10 * time.Millisecond}})

	testkit.WaitFor(t, 5*time.Second, func() bool { return len(alerts.received()) == 1 },
		func() string { return "no sluice.delivery.exhausted notice arrived" })
	first := b.waitDeliveryTo(t, ev.ID, dest.ID, sluice.DeliveryExhausted)
	checkNotice(t, alertDest.Secret, alerts.received()[0], sluice.DeliveryNotice{
		EventID: ev.ID, EventType: "invoice.paid", DestinationID: dest.ID, DeliveryID: first.ID, Attempts: 2})

	if _, err := b.store.Recover(b.ctx, b.tenant.ID, dest.ID, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	d.Wake()
	testkit.WaitFor(t, 5*time.Second, func() bool { return len(alerts.received()) == 2 },
		func() string { return "no sluice.delivery.recovered notice arrived" })
	var second *sluice.Delivery
	ds, err := b.store.Deliveries(b.ctx, b.tenant.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range ds {
		if dl.DestinationID == dest.ID && dl.Status == sluice.DeliverySucceeded {
			second = dl
		}
	}
	if second == nil {
		t.Fatal("the recovered delivery did not succeed")
	}
	checkNotice(t, alertDest.Secret, alerts.received()[1], sluice.DeliveryNotice{
		EventID: ev.ID, EventType: "invoice.paid", DestinationID: dest.ID, DeliveryID: second.ID, Attempts: 1})

	if got := everything.received(); len(got) != 1 || got[0].header.Get("webhook-id") != ev.ID {
		t.Fatalf(`the "*" destination got %d requests, want only the event itself`, len(got))
	}
}

// waitDeliveryTo waits for the event's delivery to the destination to
// reach status.
func (b *testBundle) waitDeliveryTo(t *testing.T, eventID, destinationID string, status sluice.DeliveryStatus) *sluice.Delivery {
	t.Helper()
	var found *sluice.Delivery
	testkit.WaitFor(t, 5*time.Second, func() bool {
		ds, err := b.store.Deliveries(b.ctx, b.tenant.ID, eventID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.DestinationID == destinationID && d.Status == status {
				found = d
				return true
			}
		}
		return false
	}, func() string { return "no delivery reached " + string(status) })
	return found
}

// checkNotice verifies a notice request's signature with both reference
// libraries and compares its payload with want, whose At it ignores.
func checkNotice(t *testing.T, secret string, r received, want sluice.DeliveryNotice) {
	t.Helper()
	verifyBoth(t, secret, r)
	var got sluice.DeliveryNotice
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("notice body: %v", err)
	}
	if got.At.IsZero() {
		t.Errorf("notice has no time")
	}
	got.At = time.Time{}
	if got != want {
		t.Errorf("notice = %+v, want %+v", got, want)
	}
}
