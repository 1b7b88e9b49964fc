package anomaly

import (
	"testing"
	"time"
)

// Forgetting a tenant drops its counts, and only its own: a tenant whose
// id begins another's keeps its.
func TestForget(t *testing.T) {
	d := &Detector{Window: time.Second}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tenant := range []string{"ten_a", "ten_ab"} {
		d.Event(tenant, "src", "order.paid", now)
		d.AuthFailure(tenant, "src", now)
	}
	d.Forget("ten_a")
	if _, ok := d.rates["ten_a\x00src\x00order.paid"]; ok {
		t.Error("the forgotten tenant's rate is kept")
	}
	if _, ok := d.failures["ten_a\x00src"]; ok {
		t.Error("the forgotten tenant's failures are kept")
	}
	if len(d.rates) != 1 || len(d.failures) != 1 {
		t.Errorf("%d rates and %d failure counts left, want the other tenant's 1 and 1", len(d.rates), len(d.failures))
	}
}
