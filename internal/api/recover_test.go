package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// Deliveries exhausted against a broken receiver are recovered once it
// works again: new deliveries with the same webhook-id succeed.
func TestRecoverDestination(t *testing.T) {
	t.Parallel()
	b := setupWith(t, setupOptions{retrySchedule: []time.Duration{0}})
	recv := newReceiver(t, http.StatusInternalServerError, http.StatusInternalServerError, http.StatusNoContent)
	dest := b.destination(t, b.operator, map[string]any{"url": recv.srv.URL})
	since := time.Now().Add(-time.Minute)
	var ids []string
	for i := range 2 {
		id := b.publish(t, b.operator, map[string]any{"type": "a.b", "payload": i})
		b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool { return len(ds) == 1 && ds[0].Status == sluice.DeliveryExhausted })
		ids = append(ids, id)
	}

	var out struct{ Recovered int }
	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/recover", b.operator, map[string]any{"since": since}).
		want(t, http.StatusAccepted, &out)
	if out.Recovered != 2 {
		t.Fatalf("recovered %d deliveries, want 2", out.Recovered)
	}
	for _, id := range ids {
		b.waitDeliveries(t, b.operator, id, func(ds []delivery) bool {
			return len(ds) == 2 && ds[0].Status == sluice.DeliveryExhausted && ds[1].Status == sluice.DeliverySucceeded
		})
	}
	seen := map[string]int{}
	for _, h := range recv.got() {
		seen[h.header.Get("webhook-id")]++
	}
	for _, id := range ids {
		if seen[id] != 2 {
			t.Errorf("event %s reached the receiver %d times, want its failed try and its recovery", id, seen[id])
		}
	}

	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/recover", b.operator, map[string]any{}).wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "POST", "/v1/destinations/"+dest.ID+"/recover", b.operator, map[string]any{"since": since, "until": since}).
		wantError(t, http.StatusBadRequest, "invalid")
	b.do(t, "POST", "/v1/destinations/dst_nope/recover", b.operator, map[string]any{"since": since}).
		wantError(t, http.StatusNotFound, "not_found")
}
