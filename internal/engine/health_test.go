package engine

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestNextHealth(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := Health{OpenAfter: 2, Pause: time.Minute, MaxPause: 3 * time.Minute, DisableAfter: 24 * time.Hour}
	attempt := func(outcome sluice.AttemptOutcome, at time.Time) *sluice.AttemptResult {
		return &sluice.AttemptResult{Attempt: sluice.Attempt{Outcome: outcome, At: at, Duration: time.Second},
			CountsForHealth: true}
	}
	failed := func(at time.Time) *sluice.AttemptResult { return attempt(sluice.AttemptFailed, at) }

	t.Run("healthy success changes nothing", func(t *testing.T) {
		h := DestinationHealth{Enabled: true}
		if got, ch := policy.nextHealth(h, attempt(sluice.AttemptSucceeded, t0)); got != h || ch != (healthChange{}) {
			t.Fatalf("got %+v, %+v", got, ch)
		}
	})
	t.Run("a failure that does not count", func(t *testing.T) {
		r := failed(t0)
		r.CountsForHealth = false
		h := DestinationHealth{Enabled: true, Failures: 1, FailingSince: t0}
		if got, ch := policy.nextHealth(h, r); got != h || ch.changed {
			t.Fatalf("got %+v, %+v", got, ch)
		}
	})
	t.Run("opens, lengthens on a failed probe up to the cap, closes", func(t *testing.T) {
		h := DestinationHealth{Enabled: true}
		h, _ = policy.nextHealth(h, failed(t0))
		h, ch := policy.nextHealth(h, failed(t0.Add(time.Second)))
		if !ch.opened || h.Pause != time.Minute || !h.PausedUntil.Equal(t0.Add(2*time.Second+time.Minute)) {
			t.Fatalf("after 2 failures: %+v, %+v", h, ch)
		}
		for _, want := range []time.Duration{2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
			probeAt := h.PausedUntil
			if h, ch = policy.nextHealth(h, failed(probeAt)); ch.opened || h.Pause != want || !h.PausedUntil.Equal(probeAt.Add(time.Second+want)) {
				t.Fatalf("failed probe: pause %s, want %s (%+v)", h.Pause, want, ch)
			}
		}
		h, ch = policy.nextHealth(h, attempt(sluice.AttemptSucceeded, h.PausedUntil))
		if !ch.closed || h != (DestinationHealth{Enabled: true}) {
			t.Fatalf("after success: %+v, %+v", h, ch)
		}
	})
	t.Run("disables once, failing for DisableAfter", func(t *testing.T) {
		h := DestinationHealth{Enabled: true, Failures: 1, FailingSince: t0}
		if _, ch := policy.nextHealth(h, failed(t0.Add(23*time.Hour))); ch.disable != "" {
			t.Fatalf("disabled after 23h: %+v", ch)
		}
		if _, ch := policy.nextHealth(h, failed(t0.Add(24*time.Hour-time.Second))); ch.disable != sluice.DisabledFailing {
			t.Fatalf("not disabled when the attempt ended 24h in: %+v", ch)
		}
		h.Enabled = false
		if _, ch := policy.nextHealth(h, failed(t0.Add(48*time.Hour))); ch.disable != "" {
			t.Fatalf("disabled an already disabled destination: %+v", ch)
		}
	})
	t.Run("410 disables as gone", func(t *testing.T) {
		r := failed(t0)
		r.DisableDestination = sluice.DisabledGone
		if _, ch := policy.nextHealth(DestinationHealth{Enabled: true}, r); ch.disable != sluice.DisabledGone {
			t.Fatalf("got %+v", ch)
		}
	})
}
