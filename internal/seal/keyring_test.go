package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// memStore is a KeyStore in memory: each tenant's keys oldest first, their
// counts, and how often it was read. The stores' own are tested by the
// conformance suite (internal/storetest).
type memStore struct {
	mu     sync.Mutex
	keys   map[string]*seal.StoredKey // by id
	tenant map[string][]string        // tenant → key ids, oldest first
	reads  int
}

func newMemStore() *memStore {
	return &memStore{keys: map[string]*seal.StoredKey{}, tenant: map[string][]string{}}
}

// add stores a tenant's first key.
func (m *memStore) add(master *seal.Master, tenantID string) *seal.DataKey {
	dk := seal.NewDataKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[dk.ID()] = &seal.StoredKey{ID: dk.ID(), Wrapped: master.Wrap(dk)}
	m.tenant[tenantID] = append(m.tenant[tenantID], dk.ID())
	return dk
}

func (m *memStore) NewestDataKey(_ context.Context, tenantID string) (seal.StoredKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	ids := m.tenant[tenantID]
	if len(ids) == 0 {
		return seal.StoredKey{}, fmt.Errorf("tenant %s: %w", tenantID, seal.ErrUnknownKey)
	}
	return *m.keys[ids[len(ids)-1]], nil
}

func (m *memStore) DataKey(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	k, ok := m.keys[id]
	if !ok {
		return nil, fmt.Errorf("key %s: %w", id, seal.ErrUnknownKey)
	}
	return k.Wrapped, nil
}

func (m *memStore) AddSeals(_ context.Context, id string, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[id]; ok {
		k.Seals += n
	}
	return nil
}

func (m *memStore) RotateDataKey(_ context.Context, tenantID, from string, next seal.StoredKey) (seal.StoredKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.tenant[tenantID]
	if len(ids) == 0 {
		return seal.StoredKey{}, fmt.Errorf("tenant %s: %w", tenantID, seal.ErrUnknownKey)
	}
	if from != "" && ids[len(ids)-1] != from {
		return *m.keys[ids[len(ids)-1]], nil
	}
	m.keys[next.ID] = &next
	m.tenant[tenantID] = append(ids, next.ID)
	return next, nil
}

// seals returns the count stored for a key.
func (m *memStore) seals(id string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keys[id].Seals
}

// keyIDs returns the tenant's key ids, oldest first.
func (m *memStore) keyIDs(tenantID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.tenant[tenantID]...)
}

func sealedBy(t *testing.T, sealed []byte) string {
	t.Helper()
	id, err := seal.SealedKeyID(sealed)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A keyring seals under each tenant's newest key and opens what it sealed
// for the same column and row only; it reads each key once; a value naming
// a key the store does not have does not open.
func TestKeyring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := testkit.NewMaster(t)
	store := newMemStore()
	store.add(master, "ten_a")
	k := seal.NewKeyring(master, store, seal.Policy{})
	sealed, err := k.Seal(ctx, "ten_a", []byte("secret"), "t.c", "row_1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if plain, err := k.Open(ctx, "ten_a", sealed, "t.c", "row_1"); err != nil || string(plain) != "secret" {
			t.Fatalf("Open = %q, %v", plain, err)
		}
	}
	if store.reads != 1 {
		t.Errorf("the key was read %d times, want once", store.reads)
	}
	for _, tt := range []struct{ tenant, column, row string }{{"ten_b", "t.c", "row_1"}, {"ten_a", "t.d", "row_1"}, {"ten_a", "t.c", "row_2"}} {
		if _, err := k.Open(ctx, tt.tenant, sealed, tt.column, tt.row); !errors.Is(err, seal.ErrIntegrity) {
			t.Errorf("Open as %v: %v, want ErrIntegrity", tt, err)
		}
	}
	other := seal.NewDataKey().Seal([]byte("x"), seal.AAD("ten_a", "t.c", "row_1"))
	if _, err := k.Open(ctx, "ten_a", other, "t.c", "row_1"); !errors.Is(err, seal.ErrIntegrity) {
		t.Errorf("Open under a key the store lacks: %v, want ErrIntegrity", err)
	}
	if _, err := k.Seal(ctx, "ten_b", []byte("x"), "t.c", "row_1"); !errors.Is(err, seal.ErrUnknownKey) {
		t.Errorf("Seal for a tenant without a key: %v, want ErrUnknownKey", err)
	}
	a, err := k.SubjectKey(ctx, "ten_a")
	if err != nil || len(a) != seal.KeySize {
		t.Fatalf("SubjectKey = %d bytes, %v", len(a), err)
	}
}

// A key that sealed its share is rotated before it seals one more: the
// next value names the new key, the old values still open, the tenant's
// subject key is the same, and the store counts every seal.
func TestKeyringRotatesAfterSeals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master, clock := testkit.NewMaster(t), testkit.NewClock()
	store := newMemStore()
	first := store.add(master, "ten_a")
	k := seal.NewKeyring(master, store, seal.Policy{RotateAfter: 3, Now: clock.Now})
	subject, err := k.SubjectKey(ctx, "ten_a")
	if err != nil {
		t.Fatal(err)
	}
	var sealed [][]byte
	for i := range 7 {
		v, err := k.Seal(ctx, "ten_a", fmt.Appendf(nil, "v%d", i), "t.c", "row")
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, v)
	}
	ids := store.keyIDs("ten_a")
	if len(ids) != 3 || ids[0] != first.ID() {
		t.Fatalf("keys after 7 seals with a share of 3: %v, want the first and two more", ids)
	}
	for i, v := range sealed {
		if got, want := sealedBy(t, v), ids[i/3]; got != want {
			t.Errorf("value %d sealed under %s, want %s", i, got, want)
		}
		if plain, err := k.Open(ctx, "ten_a", v, "t.c", "row"); err != nil || string(plain) != fmt.Sprintf("v%d", i) {
			t.Errorf("Open value %d = %q, %v", i, plain, err)
		}
	}
	if got := store.seals(ids[0]); got != 3 {
		t.Errorf("the first key's count = %d, want 3", got)
	}
	if err := k.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.seals(ids[2]); got != 1 {
		t.Errorf("the newest key's count after Flush = %d, want 1", got)
	}
	after, err := k.SubjectKey(ctx, "ten_a")
	if err != nil || !bytes.Equal(after, subject) {
		t.Fatalf("the subject key changed with the data key (%v)", err)
	}
	// Another keyring, reading only the newest key, has the same subject key.
	fresh, err := seal.NewKeyring(master, store, seal.Policy{}).SubjectKey(ctx, "ten_a")
	if err != nil || !bytes.Equal(fresh, subject) {
		t.Fatalf("a new keyring's subject key differs (%v)", err)
	}
}

// A keyring reads the tenant's newest key again once Refresh has passed,
// so another keyring's rotation reaches it that late at most; its counts
// reach the store every FlushEvery, not at every seal.
func TestKeyringRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master, clock := testkit.NewMaster(t), testkit.NewClock()
	store := newMemStore()
	first := store.add(master, "ten_a")
	policy := seal.Policy{Refresh: 5 * time.Second, FlushEvery: time.Minute, Now: clock.Now}
	a, b := seal.NewKeyring(master, store, policy), seal.NewKeyring(master, store, policy)
	sealB := func() string {
		t.Helper()
		v, err := b.Seal(ctx, "ten_a", []byte("x"), "t.c", "row")
		if err != nil {
			t.Fatal(err)
		}
		return sealedBy(t, v)
	}
	if got := sealB(); got != first.ID() {
		t.Fatalf("sealed under %s, want %s", got, first.ID())
	}
	next, err := a.NextDataKey(ctx, "ten_a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RotateDataKey(ctx, "ten_a", "", next); err != nil {
		t.Fatal(err)
	}
	reads := store.reads
	clock.Advance(4 * time.Second)
	if got := sealB(); got != first.ID() {
		t.Fatalf("within Refresh: sealed under %s, want the key read, %s", got, first.ID())
	}
	if store.reads != reads {
		t.Fatalf("the store was read %d times within Refresh", store.reads-reads)
	}
	clock.Advance(time.Second)
	if got := sealB(); got != next.ID {
		t.Fatalf("after Refresh: sealed under %s, want the new key %s", got, next.ID)
	}
	if got := store.seals(first.ID()); got != 0 {
		t.Fatalf("counts added before FlushEvery: %d", got)
	}
	for range 3 {
		sealB()
	}
	clock.Advance(time.Minute)
	sealB()
	if got := store.seals(next.ID); got != 4 {
		t.Fatalf("the new key's count after FlushEvery = %d, want the 4 values sealed before", got)
	}
}

// Keyrings sealing from many goroutines, rotating after a few values:
// every value opens, and no key seals much past its share.
func TestKeyringConcurrentRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := testkit.NewMaster(t)
	store := newMemStore()
	store.add(master, "ten_a")
	const share, workers, each = 20, 8, 50
	rings := []*seal.Keyring{
		seal.NewKeyring(master, store, seal.Policy{RotateAfter: share}),
		seal.NewKeyring(master, store, seal.Policy{RotateAfter: share}),
	}
	sealed := make([][][]byte, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				v, err := rings[w%2].Seal(ctx, "ten_a", fmt.Appendf(nil, "%d.%d", w, i), "t.c", "row")
				if err != nil {
					t.Error(err)
					return
				}
				sealed[w] = append(sealed[w], v)
			}
		})
	}
	wg.Wait()
	opener := seal.NewKeyring(master, store, seal.Policy{})
	for w := range sealed {
		for i, v := range sealed[w] {
			if plain, err := opener.Open(ctx, "ten_a", v, "t.c", "row"); err != nil || string(plain) != fmt.Sprintf("%d.%d", w, i) {
				t.Fatalf("Open %d.%d = %q, %v", w, i, plain, err)
			}
		}
	}
	ids := store.keyIDs("ten_a")
	if len(ids) < 2 {
		t.Fatalf("%d seals with a share of %d made %d keys", workers*each, share, len(ids))
	}
	// Each keyring adds its count when it alone reaches the share, and the
	// goroutines that seal while one of them rotates use the old key
	// meanwhile.
	for _, id := range ids {
		if n := store.seals(id); n > int64(len(rings)*share+workers) {
			t.Errorf("key %s counted %d seals, share %d", id, n, share)
		}
	}
}
