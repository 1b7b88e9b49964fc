package bench

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The receiver hands each arrival to the tracker of the phase under way,
// and a tracker's waiters see arrivals that no acceptance matched.
func TestReceiverSwitchesTrackers(t *testing.T) {
	t.Parallel()
	first, second := newTracker(2), newTracker(2)
	rc, err := startReceiver("127.0.0.1:0", first)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	deliver := func(id string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, rc.url(), strings.NewReader("{}"))
		req.Header.Set("webhook-id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("deliver %s: status %d", id, resp.StatusCode)
		}
	}
	deliver("evt_1")
	rc.track(second)
	deliver("evt_2")
	deliver("evt_2")
	if first.arrivals() != 1 || second.arrivals() != 1 {
		t.Fatalf("arrivals %d and %d, want 1 in each tracker", first.arrivals(), second.arrivals())
	}
	second.accept("evt_2", time.Now())
	if d := second.delivery(time.Now()); d.Delivered != 1 || d.Duplicates != 1 {
		t.Errorf("second tracker: %+v, want evt_2 delivered once and once again", d)
	}
	if first.delivered() != 0 {
		t.Errorf("first tracker matched %d, want none: nothing it was told of was accepted", first.delivered())
	}
	ctx := context.Background()
	if err := first.waitArrived(ctx, 1, time.Minute); err != nil {
		t.Errorf("waitArrived(1) = %v, want the one arrival seen", err)
	}
	if err := first.waitArrived(ctx, 2, time.Millisecond); err != errWaitTimeout {
		t.Errorf("waitArrived(2) = %v, want a timeout", err)
	}
}
