package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testkit"
	"github.com/sluicehq/sluice/webhook"
)

func mustReserve(t *testing.T, s webhook.Store, id string, lease time.Duration) webhook.Status {
	t.Helper()
	st, err := s.Reserve(context.Background(), id, lease)
	if err != nil {
		t.Fatalf("Reserve(%s): %v", id, err)
	}
	return st
}

func TestMemoryStoreLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testkit.NewClock()
	s := &webhook.MemoryStore{Now: clock.Now}
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusNew {
		t.Fatalf("first Reserve = %v, want new", got)
	}
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusInFlight {
		t.Fatalf("Reserve while held = %v, want in flight", got)
	}
	// Released: the next attempt is handled.
	if err := s.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusNew {
		t.Fatalf("Reserve after Release = %v, want new", got)
	}
	if err := s.Complete(ctx, "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusDone {
		t.Fatalf("Reserve after Complete = %v, want done", got)
	}
	// Releasing a done id (a late, failed duplicate) leaves it done.
	if err := s.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusDone {
		t.Fatalf("Reserve after releasing a done id = %v, want done", got)
	}
	clock.Advance(time.Hour)
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusNew {
		t.Fatalf("Reserve once the ttl passed = %v, want new", got)
	}
	// A reservation ends with its lease, should its holder never finish.
	clock.Advance(time.Minute)
	if got := mustReserve(t, s, "a", time.Minute); got != webhook.StatusNew {
		t.Fatalf("Reserve once the lease passed = %v, want new", got)
	}
}

// Full, the store forgets the id completed longest ago, never one in
// flight.
func TestMemoryStoreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &webhook.MemoryStore{MaxEntries: 3}
	for _, id := range []string{"a", "b", "c"} {
		mustReserve(t, s, id, time.Minute)
	}
	if _, err := s.Reserve(ctx, "d", time.Minute); !errors.Is(err, webhook.ErrStoreFull) {
		t.Fatalf("Reserve with only reservations in flight = %v, want ErrStoreFull", err)
	}
	for _, id := range []string{"c", "a"} {
		if err := s.Complete(ctx, id, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustReserve(t, s, "d", time.Minute); got != webhook.StatusNew {
		t.Fatalf("Reserve(d) = %v, want new", got)
	}
	if got := s.Len(); got != 3 {
		t.Fatalf("Len = %d, want 3", got)
	}
	// c was completed first, so it went; a and b stay.
	for id, want := range map[string]webhook.Status{"a": webhook.StatusDone, "b": webhook.StatusInFlight, "d": webhook.StatusInFlight} {
		if got := mustReserve(t, s, id, time.Minute); got != want {
			t.Errorf("Reserve(%s) = %v, want %v", id, got, want)
		}
	}
	if got := mustReserve(t, s, "c", time.Minute); got != webhook.StatusNew {
		t.Errorf("Reserve(c) = %v, want new: it should have been forgotten", got)
	}
}

// Expired entries make room before anything live is forgotten.
func TestMemoryStoreSweepsExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := testkit.NewClock()
	s := &webhook.MemoryStore{MaxEntries: 100, Now: clock.Now}
	for i := range 100 {
		id := fmt.Sprint("old", i)
		mustReserve(t, s, id, time.Minute)
		if err := s.Complete(ctx, id, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Minute)
	mustReserve(t, s, "new", time.Minute)
	if got := s.Len(); got != 1 {
		t.Fatalf("Len = %d, want 1 once the expired entries are swept", got)
	}
}

// Of concurrent reservations of one id, exactly one wins.
func TestMemoryStoreConcurrentReserve(t *testing.T) {
	t.Parallel()
	s := &webhook.MemoryStore{}
	const n = 64
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			st, err := s.Reserve(context.Background(), "same", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if st == webhook.StatusNew {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d reservations won, want 1", fresh)
	}
}
