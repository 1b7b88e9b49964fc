package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
)

// rate_limit_per_second is stored and shown, and 0 lifts it; a destination
// whose circuit opened after 10 failed attempts shows "state": "paused".
func TestDestinationRateLimitAndPausedState(t *testing.T) {
	t.Parallel()
	b := setup(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	d := b.destination(t, b.operator, map[string]any{"url": down.URL, "rate_limit_per_second": 50})
	if d.RateLimitPerSecond == nil || *d.RateLimitPerSecond != 50 || d.State != "active" ||
		d.ConsecutiveFailures != 0 || d.FailingSince != nil || d.NextProbeAt != nil {
		t.Fatalf("created = %+v", d)
	}
	var got destination
	b.do(t, "PATCH", "/v1/destinations/"+d.ID, b.operator, map[string]any{"rate_limit_per_second": 0}).
		want(t, http.StatusOK, &got)
	if got.RateLimitPerSecond != nil {
		t.Fatalf("rate limit after setting 0 = %d, want none", *got.RateLimitPerSecond)
	}

	for range 4 { // 3 attempts each: 12 failures
		b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": map[string]any{}})
	}
	testkit.WaitFor(t, 10*time.Second, func() bool {
		b.do(t, "GET", "/v1/destinations/"+d.ID, b.operator, nil).want(t, http.StatusOK, &got)
		return got.State == "paused"
	}, func() string {
		return fmt.Sprintf("destination state %q after 10 s of failures, want paused", got.State)
	})
	if !got.Enabled || got.DisabledReason != "" {
		t.Fatalf("a paused destination is still enabled: %+v", got)
	}
	if got.PausedReason != "consecutive_failures" || got.ConsecutiveFailures < 10 || got.FailingSince == nil ||
		got.NextProbeAt == nil || !got.NextProbeAt.After(*got.FailingSince) {
		t.Fatalf("a paused destination does not say why and until when: %+v", got)
	}
	// A delivery held back by the pause shows when it may go, not a time
	// already past.
	held := b.publish(t, b.operator, map[string]any{"type": "x.y", "payload": map[string]any{}})
	for _, dl := range b.deliveries(t, b.operator, held) {
		if dl.Status == "pending" && (dl.NextAttemptAt == nil || dl.NextAttemptAt.Before(*got.NextProbeAt)) {
			t.Fatalf("a delivery to the paused destination shows next_attempt_at %v, before the probe at %v",
				dl.NextAttemptAt, got.NextProbeAt)
		}
	}
}
