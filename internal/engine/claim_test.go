package engine

import (
	"slices"
	"testing"
	"time"
)

// A rate-limited destination's deliveries take starts 1/N s apart, each
// reserved once; a paused destination whose pause ended sends one probe;
// an ungated destination's deliveries all go.
func TestPlanClaims(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lease := now.Add(time.Minute)
	gates := map[string]*Gate{
		"dst_rate":  {RatePerSecond: 10, RateEpoch: 1},
		"dst_pause": {PausedUntil: now.Add(-time.Second)},
	}
	candidates := []ClaimCandidate{
		{ID: "r1", DestinationID: "dst_rate"}, {ID: "p1", DestinationID: "dst_pause"}, {ID: "r2", DestinationID: "dst_rate"},
		{ID: "f1", DestinationID: "dst_free"}, {ID: "p2", DestinationID: "dst_pause"}, {ID: "r3", DestinationID: "dst_rate"},
	}
	plan := planClaims(now, lease, candidates, gates)
	if want := []string{"r1", "p1", "f1"}; !slices.Equal(plan.Claim, want) {
		t.Fatalf("claimed %v, want %v", plan.Claim, want)
	}
	want := []Reservation{{ID: "r2", At: now.Add(100 * time.Millisecond), Epoch: 1}, {ID: "r3", At: now.Add(200 * time.Millisecond), Epoch: 1}}
	if !slices.EqualFunc(plan.Reschedule, want, func(a, b Reservation) bool {
		return a.ID == b.ID && a.At.Equal(b.At) && a.Epoch == b.Epoch
	}) {
		t.Fatalf("rescheduled %v, want %v", plan.Reschedule, want)
	}
	if g := gates["dst_pause"]; !g.Changed || !g.PausedUntil.Equal(lease) {
		t.Fatalf("the probe's gate = %+v, want paused to the lease's end", g)
	}
	// A reservation of the gate's epoch goes when due, holding the next
	// start back one interval; one of an older epoch takes a new start.
	gates = map[string]*Gate{"dst_rate": {RatePerSecond: 10, RateEpoch: 2, RateNextAt: now.UnixMicro()}}
	plan = planClaims(now, lease, []ClaimCandidate{{ID: "kept", DestinationID: "dst_rate", RateSlot: 2},
		{ID: "void", DestinationID: "dst_rate", RateSlot: 1}}, gates)
	if !slices.Equal(plan.Claim, []string{"kept"}) || len(plan.Reschedule) != 1 || plan.Reschedule[0].ID != "void" ||
		!plan.Reschedule[0].At.Equal(now.Add(100*time.Millisecond)) {
		t.Fatalf("plan = %+v", plan)
	}
}
