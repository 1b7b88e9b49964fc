package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/postgres"
	"github.com/sluicehq/sluice/internal/testkit"
)

// A statement that selects rows by an array of ids must be planned for its
// arguments at each run: a generic plan cached while the table was small
// scans the whole table for ever after. So after claiming, recording and
// returning deliveries, none of those statements may be among the
// connections' prepared ones.
func TestIDArrayStatementsAreNotPrepared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testkit.NewClock()
	d := testkit.OpenPostgres(t, testkit.NewSchema(t))
	s := testkit.OpenStore(t, d, testkit.StoreOptions{Now: clock.Now})
	tenantID := tenantWithDestination(t, s)
	for range 3 {
		publish(t, s, tenantID, clock.Now())
	}
	claims, err := s.ClaimDue(ctx, sluice.ClaimRequest{Now: clock.Now(), Limit: 10, Lease: time.Minute})
	if err != nil || len(claims) != 3 {
		t.Fatalf("ClaimDue = %d claims, %v; want 3", len(claims), err)
	}
	rs := make([]*sluice.AttemptResult, 2)
	for i, c := range claims[:2] {
		rs[i] = &sluice.AttemptResult{Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: tenantID,
			DeliveryID: c.Delivery.ID, EventID: c.Delivery.EventID, DestinationID: c.Delivery.DestinationID, Number: 1,
			Outcome: sluice.AttemptSucceeded, HTTPStatus: 200, At: clock.Now()}, Status: sluice.DeliverySucceeded,
			CountsForHealth: true}
	}
	for i, rec := range s.RecordAttempts(ctx, rs) {
		if rec.Err != nil {
			t.Fatalf("RecordAttempts[%d]: %v", i, rec.Err)
		}
	}
	if err := s.ReleaseClaims(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := s.Event(ctx, tenantID, claims[0].Delivery.EventID); err != nil || e.Status != sluice.EventDelivered {
		t.Fatalf("recorded event = %+v, %v; want delivered", e, err)
	}

	statements, err := postgres.PreparedStatements(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var insertSeen bool
	for _, st := range statements {
		insertSeen = insertSeen || strings.Contains(st, "INSERT INTO attempts")
		if strings.Contains(st, "ANY(") || strings.Contains(st, "unnest(") {
			t.Errorf("prepared, so its plan may be cached: %s", strings.Join(strings.Fields(st), " "))
		}
	}
	if !insertSeen {
		t.Fatalf("the attempt's insert is not among %d prepared statements: the check saw none of the work", len(statements))
	}
}
