package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// BenchmarkClaimDue claims batches of 64 from backlogs of due deliveries
// spread over 8 destinations, each capped at 16, as the embedded store's
// benchmark of the same name does: the claim's cost must not grow with the
// backlog. Each claim's deliveries are due again one lease later on the
// benchmark's clock, so the backlog never drains.
func BenchmarkClaimDue(b *testing.B) {
	for _, backlog := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) {
			schema := testkit.NewSchema(b)
			s := mustOpen(b, schema, testkit.NewMaster(b), time.Now)
			tenantID, dests := tenantWithDestinations(b, s, 8)
			start := time.Now()
			fillBacklog(b, s, schema, tenantID, dests, backlog, start)
			benchClaims(b, s, start, sluice.ClaimRequest{Limit: 64, Lease: time.Second, PerDestination: 16})
		})
	}
}

// BenchmarkClaimDueBusyHead claims while the destination whose backlog
// fills the head of the due index has no room: the other destination's
// work is found without stepping over that backlog, whatever its size.
func BenchmarkClaimDueBusyHead(b *testing.B) {
	for _, backlog := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) {
			schema := testkit.NewSchema(b)
			s := mustOpen(b, schema, testkit.NewMaster(b), time.Now)
			tenantID, dests := tenantWithDestinations(b, s, 2)
			start := time.Now()
			fillBacklog(b, s, schema, tenantID, dests[:1], backlog, start.Add(-time.Minute))
			fillBacklog(b, s, schema, tenantID, dests[1:], 10_000, start)
			benchClaims(b, s, start, sluice.ClaimRequest{Limit: 16, Lease: time.Second, Room: map[string]int{dests[0]: 0}})
		})
	}
}

// benchClaims runs the claim once per iteration, each one lease after the
// last, and reports how many deliveries each claimed.
func benchClaims(b *testing.B, s *engine.Store, start time.Time, req sluice.ClaimRequest) {
	ctx := context.Background()
	req.Now = start
	claimed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req.Now = req.Now.Add(req.Lease + time.Millisecond)
		claims, err := s.ClaimDue(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		claimed += len(claims)
	}
	b.ReportMetric(float64(claimed)/float64(b.N), "claims/op")
}

// fillBacklog inserts n pending deliveries of one event, spread over the
// destinations, in one statement: due in the second before due, in the
// order they were made, as a backlog builds up. It then analyzes the
// table, as autovacuum does once it has grown by a tenth: without
// statistics the planner takes a million rows for a few and reads every
// due delivery of each destination to find the earliest 64.
func fillBacklog(b *testing.B, s *engine.Store, schema, tenantID string, dests []string, n int, due time.Time) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	created, err := s.CreateEvent(ctx, &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: "backlog",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(`{}`), ContentType: "application/json", ExpiresAt: now.Add(24 * time.Hour)},
	}, time.Hour) // its own deliveries are not due
	if err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, testkit.DatabaseURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{schema, "deliveries"}.Sanitize()+`
		(id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, created_at, updated_at)
		SELECT $1 || i, $2, $3, ($4::text[])[i % cardinality($4::text[]) + 1], 'pending', 0, $5::bigint + i::bigint * 1000 / $6, $7::bigint, $7::bigint
		FROM generate_series(0, $6 - 1) AS i`,
		"dlv_"+dests[0]+"_", tenantID, created.Event.ID, dests, due.UnixMilli()-1000, n, now.UnixMilli())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE `+pgx.Identifier{schema, "deliveries"}.Sanitize()); err != nil {
		b.Fatal(err)
	}
}
