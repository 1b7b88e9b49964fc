package keyuse_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/keyuse"
	"github.com/sluicehq/sluice/internal/testkit"
)

// countingStore records into a real store and counts the writes asked for;
// fail, when set, makes them fail instead.
type countingStore struct {
	keyuse.Store
	mu     sync.Mutex
	writes []time.Time
	fail   error
}

func (c *countingStore) RecordKeyUse(ctx context.Context, keyID string, at time.Time) error {
	c.mu.Lock()
	c.writes = append(c.writes, at)
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return fail
	}
	return c.Store.RecordKeyUse(ctx, keyID, at)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// A busy key costs one write a minute: many uses within a minute write
// once, at the minute; the next minute writes again. The store shows it.
func TestOneWriteAMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := testkit.SQLiteStore(t, testkit.StoreOptions{})
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "admin", Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken("t")}
	if err := store.CreateTenant(ctx, ten, key); err != nil {
		t.Fatal(err)
	}
	counting := &countingStore{Store: store}
	r := keyuse.New(counting, nil)
	start := time.Date(2030, 5, 1, 10, 7, 12, 0, time.UTC)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Used(ctx, key, start.Add(time.Duration(i)*time.Second/2))
		}()
	}
	wg.Wait()
	if n := counting.count(); n != 1 {
		t.Fatalf("50 uses within a minute wrote %d times, want 1", n)
	}
	got, err := store.KeyByTokenHash(ctx, key.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	if want := start.Truncate(time.Minute); !got.LastUsedAt.Equal(want) {
		t.Fatalf("last used %v, want %v", got.LastUsedAt, want)
	}
	// A key read since shows the minute itself: no write, even from a
	// process that has not written it.
	keyuse.New(counting, nil).Used(ctx, got, start.Add(40*time.Second))
	if n := counting.count(); n != 1 {
		t.Fatalf("a use in the stored minute wrote: %d writes", n)
	}
	r.Used(ctx, key, start.Add(time.Minute))
	got, _ = store.KeyByTokenHash(ctx, key.TokenHash)
	if n, want := counting.count(), start.Add(time.Minute).Truncate(time.Minute); n != 2 || !got.LastUsedAt.Equal(want) {
		t.Fatalf("next minute: %d writes, last used %v; want 2, %v", n, got.LastUsedAt, want)
	}
}

// A failed write is logged with the key's id and the error's class only,
// and is not tried again within the minute.
func TestFailedWriteLogged(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	counting := &countingStore{fail: errors.New("write failed: token sk_secret")}
	r := keyuse.New(counting, logger)
	key := &sluice.APIKey{ID: "key_1"}
	now := time.Date(2030, 5, 1, 10, 7, 12, 0, time.UTC)
	r.Used(context.Background(), key, now)
	r.Used(context.Background(), key, now.Add(time.Second))
	if n := counting.count(); n != 1 {
		t.Errorf("writes %d, want 1", n)
	}
	out := logs.String()
	if !strings.Contains(out, "key_id=key_1") || !strings.Contains(out, "error_class=internal") {
		t.Errorf("log lacks the key id or error class: %s", out)
	}
	if strings.Contains(out, "sk_secret") {
		t.Errorf("log holds the error's text: %s", out)
	}
}
