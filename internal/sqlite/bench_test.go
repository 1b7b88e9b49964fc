package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
)

// benchStore opens the engine over a driver, with a tenant and
// destinations, for benchmarks: the embedded store as Sluice runs it.
func benchStore(b testing.TB, destinations int) (*engine.Store, *Driver, *sluice.Tenant, []*sluice.Destination) {
	b.Helper()
	ctx := context.Background()
	master, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	d, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "sluice.db")})
	if err != nil {
		b.Fatal(err)
	}
	s, err := engine.Open(ctx, engine.Config{Driver: d, Master: master})
	if err != nil {
		d.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "bench"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}
	if err := s.CreateTenant(ctx, ten, key); err != nil {
		b.Fatal(err)
	}
	var dests []*sluice.Destination
	for i := range destinations {
		dest := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID,
			Name: fmt.Sprint("d", i), URL: "https://example.com/hook", EventTypes: []string{"*"},
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}
		if err := s.CreateDestination(ctx, dest); err != nil {
			b.Fatal(err)
		}
		dests = append(dests, dest)
	}
	return s, d, ten, dests
}

// BenchmarkCreateEvent stores 1 KiB events from parallel callers, as the
// API does: the group commit's write path, sealing included. With a dedup
// key, as every ingested webhook has, each event also takes a place in the
// unique index of its tenant's keys.
func BenchmarkCreateEvent(b *testing.B) {
	b.Run("published", func(b *testing.B) { benchCreateEvent(b, "") })
	b.Run("dedup", func(b *testing.B) { benchCreateEvent(b, "in:src_bench:") })
}

// benchCreateEvent stores events, each with a dedup key of its own made of
// keyPrefix and a counter, or none when keyPrefix is empty.
func benchCreateEvent(b *testing.B, keyPrefix string) {
	s, _, ten, _ := benchStore(b, 1)
	body := []byte(`{"filler":"` + strings.Repeat("x", 1000) + `"}`)
	ctx := context.Background()
	var n atomic.Int64
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(32) // many requests wait on each commit
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			now := time.Now()
			ne := &sluice.NewEvent{
				Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: ten.ID, Type: "bench.event",
					Direction: sluice.Outbound, ReceivedAt: now},
				Payload: sluice.Payload{Body: body, ContentType: "application/json", ExpiresAt: now.Add(time.Hour)},
			}
			if keyPrefix != "" {
				ne.DedupKey = keyPrefix + strconv.FormatInt(n.Add(1), 10)
			}
			created, err := s.CreateEvent(ctx, ne, 0)
			if err != nil || created.Duplicate {
				b.Errorf("CreateEvent = %+v, %v", created, err)
				return
			}
		}
	})
}

// BenchmarkDeliveryCycle is the writer's share of one event of the e2e
// bench: a 1 KiB event stored with its delivery created claimed, as the
// API does when the dispatcher has room, and its successful attempt
// recorded, from parallel callers sharing commits.
func BenchmarkDeliveryCycle(b *testing.B) {
	s, _, ten, _ := benchStore(b, 1)
	body := []byte(`{"filler":"` + strings.Repeat("x", 1000) + `"}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := storeClaimed(ctx, s, ten.ID, body)
			if err == nil {
				err = recordAttempt(ctx, s, attemptResult(c, sluice.AttemptSucceeded))
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// storeClaimed stores an event of body whose one delivery is created
// claimed, as the API stores events when the dispatcher has room, and
// returns the claim. The tenant must have one destination, for every type.
func storeClaimed(ctx context.Context, s *engine.Store, tenantID string, body []byte) (*sluice.Claim, error) {
	now := time.Now()
	in := &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: tenantID, Type: "bench.event",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: body, ContentType: "application/json", ExpiresAt: now.Add(time.Hour)},
		Claim:   &sluice.ClaimRequest{Now: now, Limit: 1, Lease: time.Minute},
	}
	created, err := s.CreateEvent(ctx, in, 0)
	if err != nil {
		return nil, err
	}
	if len(created.Claims) != 1 {
		return nil, fmt.Errorf("%d deliveries created claimed, want 1", len(created.Claims))
	}
	return created.Claims[0], nil
}

// recordAttempt records one attempt.
func recordAttempt(ctx context.Context, s *engine.Store, r *sluice.AttemptResult) error {
	return s.RecordAttempts(ctx, []*sluice.AttemptResult{r})[0].Err
}

// attemptResult is the first attempt of c with the outcome, counting for
// its destination's health: a success ends the delivery, a failure
// schedules a retry in an hour.
func attemptResult(c *sluice.Claim, outcome sluice.AttemptOutcome) *sluice.AttemptResult {
	now := time.Now()
	d := c.Delivery
	r := &sluice.AttemptResult{
		Attempt: sluice.Attempt{ID: sluice.NewID(sluice.PrefixAttempt), TenantID: d.TenantID, DeliveryID: d.ID,
			EventID: d.EventID, DestinationID: d.DestinationID, Number: 1, Outcome: outcome,
			HTTPStatus: 200, Duration: time.Millisecond, At: now},
		EventType: c.EventType, Status: sluice.DeliverySucceeded, CountsForHealth: true,
	}
	if outcome != sluice.AttemptSucceeded {
		r.Status, r.NextAttemptAt = sluice.DeliveryPending, now.Add(time.Hour)
		r.Attempt.HTTPStatus, r.Attempt.Error = 500, "http_status"
	}
	return r
}

// BenchmarkClaimDue claims batches of 64 from backlogs of due deliveries
// spread over 8 destinations, each capped at 16: the claim's cost must
// not grow with the backlog. Each claim's deliveries are due again one
// lease later on the benchmark's clock, so the backlog never drains.
func BenchmarkClaimDue(b *testing.B) {
	for _, backlog := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) {
			s, d, ten, dests := benchStore(b, 8)
			start := time.Now()
			fillBacklog(b, s, d, ten, dests, backlog, start)
			const lease = time.Second
			now := start
			ctx := context.Background()
			claimed := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(lease + time.Millisecond)
				claims, err := s.ClaimDue(ctx, sluice.ClaimRequest{Now: now, Limit: 64, Lease: lease, PerDestination: 16})
				if err != nil {
					b.Fatal(err)
				}
				claimed += len(claims)
			}
			b.ReportMetric(float64(claimed)/float64(b.N), "claims/op")
		})
	}
}

// BenchmarkClaimDueBusyHead claims while the destination whose backlog
// fills the head of the due index has no room: the other destination's
// work is found without stepping over that backlog, whatever its size.
func BenchmarkClaimDueBusyHead(b *testing.B) {
	for _, backlog := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint("backlog=", backlog), func(b *testing.B) {
			s, d, ten, dests := benchStore(b, 2)
			start := time.Now()
			fillBacklog(b, s, d, ten, dests[:1], backlog, start.Add(-time.Minute))
			fillBacklog(b, s, d, ten, dests[1:], 10_000, start)
			const lease = time.Second
			now := start
			ctx := context.Background()
			claimed := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(lease + time.Millisecond)
				claims, err := s.ClaimDue(ctx, sluice.ClaimRequest{Now: now, Limit: 16, Lease: lease,
					Room: map[string]int{dests[0].ID: 0}})
				if err != nil {
					b.Fatal(err)
				}
				claimed += len(claims)
			}
			b.ReportMetric(float64(claimed)/float64(b.N), "claims/op")
		})
	}
}

// fillBacklog inserts n pending deliveries of one event, spread over the
// destinations, in one statement: due in the second before due, in the
// order they were made, as a backlog builds up.
func fillBacklog(b *testing.B, s *engine.Store, d *Driver, ten *sluice.Tenant, dests []*sluice.Destination, n int, due time.Time) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	created, err := s.CreateEvent(ctx, &sluice.NewEvent{
		Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: ten.ID, Type: "backlog",
			Direction: sluice.Outbound, ReceivedAt: now},
		Payload: sluice.Payload{Body: []byte(`{}`), ContentType: "application/json", ExpiresAt: now.Add(24 * time.Hour)},
	}, time.Hour) // its own delivery is not due
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(dests))
	for i, d := range dests {
		ids[i] = "'" + d.ID + "'"
	}
	ev := created.Event
	err = d.write(ctx, func(ctx context.Context) error {
		_, err := d.stmts.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
			INSERT INTO deliveries (id, tenant_id, event_id, destination_id, status, attempts, next_attempt_at, created_at, updated_at)
			SELECT ? || i, ?, ?, json_extract(?, '$[' || (i % ?) || ']'), 'pending', 0, ? + i * 1000 / ?, ?, ?
			FROM n`, n, "dlv_"+dests[0].ID+"_", ten.ID, ev.ID, "["+strings.ReplaceAll(strings.Join(ids, ","), "'", `"`)+"]", len(dests),
			due.UnixMilli()-1000, n, now.UnixMilli(), now.UnixMilli())
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}
