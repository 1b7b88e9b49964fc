package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A destination its circuit breaker paused is resumed by an admin: it is
// active at once, the delivery the pause held back goes without waiting
// out the pause, and the resume is in the audit log. A viewer may not
// resume, and a destination that is not paused cannot be.
func TestResumeDestination(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, o setupOptions) {
		// The default breaker opens after 10 failures in a row; the
		// receiver fails exactly those, then works.
		o.retrySchedule = slices.Repeat([]time.Duration{0}, 12)
		b := setupWith(t, o)
		fails := slices.Repeat([]int{http.StatusInternalServerError}, 10)
		recv := newReceiver(t, append(fails, http.StatusNoContent)...)
		dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
		b.do(t, "POST", "/v1/destinations/"+dest.ID+"/resume", b.operator, nil).wantError(t, http.StatusConflict, sluice.ECONFLICT)

		id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": 1})
		var got destination
		testkit.WaitFor(t, 10*time.Second, func() bool {
			b.do(t, "GET", "/v1/destinations/"+dest.ID, b.operator, nil).want(t, http.StatusOK, &got)
			return got.State == sluice.StatePaused
		}, func() string { return fmt.Sprintf("the destination never paused: %+v", got) })

		viewer := b.key(t, b.operator, sluice.RoleViewer)
		b.do(t, "POST", "/v1/destinations/"+dest.ID+"/resume", viewer, nil).wantError(t, http.StatusForbidden, sluice.EFORBIDDEN)
		b.do(t, "POST", "/v1/destinations/dst_nope/resume", b.operator, nil).wantError(t, http.StatusNotFound, sluice.ENOTFOUND)

		b.do(t, "POST", "/v1/destinations/"+dest.ID+"/resume", b.operator, nil).want(t, http.StatusOK, &got)
		if got.State != sluice.StateActive || got.ConsecutiveFailures != 0 || got.FailingSince != nil {
			t.Fatalf("resumed destination = %+v, want active with no failures", got)
		}
		// The pause is a minute long: the delivery succeeds well before.
		b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
			return len(ds) == 1 && ds[0].Status == sluice.DeliverySucceeded
		})

		var audit struct {
			Data []struct {
				Action     string  `json:"action"`
				ActorKeyID *string `json:"actor_key_id"`
			} `json:"data"`
		}
		b.do(t, "GET", "/v1/audit?resource_id="+dest.ID, b.operator, nil).want(t, http.StatusOK, &audit)
		var actors []string
		for _, e := range audit.Data {
			if e.Action == "destination.resume" && e.ActorKeyID != nil {
				actors = append(actors, *e.ActorKeyID)
			}
		}
		if len(actors) != 1 {
			t.Fatalf("destination.resume entries with an actor: %v, want one", actors)
		}
	})
}
