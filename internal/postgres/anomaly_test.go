package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/anomaly"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Two processes on one database, each receiving half of a burst that
// neither would see alone, raise the alert once they have shared their
// counts through the database.
func TestAnomalyCountsShared(t *testing.T) {
	testkit.DatabaseURL(t)
	t.Parallel()
	ctx := context.Background()
	schema, master, clock := testkit.NewSchema(t), testkit.NewMaster(t), testkit.NewClock()
	open := func() *engine.Store {
		return testkit.OpenStore(t, testkit.OpenPostgres(t, schema), testkit.StoreOptions{Master: master,
			Now: clock.Now, Anomalies: &anomaly.Detector{Window: time.Second, Factor: 5, MinBurst: 20, Warmup: 1,
				Cooldown: time.Hour}})
	}
	a, b := open(), open()
	if !a.SharesAnomalyCounts() {
		t.Fatal("a PostgreSQL store does not share its anomaly counts")
	}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "t"}
	if err := a.CreateTenant(ctx, ten, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken(sluice.NewToken())}); err != nil {
		t.Fatal(err)
	}
	publish := func(s *engine.Store, n int) {
		t.Helper()
		for range n {
			ne := &sluice.NewEvent{Event: sluice.Event{ID: sluice.NewID(sluice.PrefixEvent), TenantID: ten.ID,
				Type: "order.paid", Direction: sluice.Outbound, ReceivedAt: clock.Now()},
				Payload: sluice.Payload{Body: []byte(`{}`), ContentType: "application/json"}}
			if _, err := s.CreateEvent(ctx, ne, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	bursts := func() int {
		t.Helper()
		events, _, err := a.Events(ctx, ten.ID, sluice.EventFilter{Type: sluice.NoticeAnomalyPrefix + sluice.AnomalyBurst,
			Page: sluice.Page{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		return len(events)
	}
	share := func(s *engine.Store) {
		t.Helper()
		if err := s.ShareAnomalyCounts(ctx); err != nil {
			t.Fatal(err)
		}
	}

	publish(a, 1)
	publish(b, 1)
	clock.Advance(time.Second) // a window of one event each: the baseline
	publish(a, 12)
	publish(b, 12)
	if n := bursts(); n != 0 {
		t.Fatalf("%d bursts from half a burst in each process", n)
	}
	share(a)
	share(b)
	share(a)
	publish(a, 1)
	if n := bursts(); n != 1 {
		t.Fatalf("%d bursts after the processes shared 25 events in a window, want 1", n)
	}
}
