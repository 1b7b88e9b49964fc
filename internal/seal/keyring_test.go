package seal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// loader is a KeyLoader over a map of wrapped keys, counting its reads.
type loader struct {
	newest map[string]string // tenant → key id
	keys   map[string][]byte // key id → wrapped
	reads  int
}

func (l *loader) NewestDataKey(_ context.Context, tenantID string) (string, []byte, error) {
	l.reads++
	id, ok := l.newest[tenantID]
	if !ok {
		return "", nil, fmt.Errorf("tenant %s: %w", tenantID, seal.ErrUnknownKey)
	}
	return id, l.keys[id], nil
}

func (l *loader) DataKey(_ context.Context, id string) ([]byte, error) {
	l.reads++
	w, ok := l.keys[id]
	if !ok {
		return nil, fmt.Errorf("key %s: %w", id, seal.ErrUnknownKey)
	}
	return w, nil
}

// A keyring seals under each tenant's newest key and opens what it sealed
// for the same column and row only; it reads each key once; a value naming
// a key the store does not have does not open.
func TestKeyring(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := testkit.NewMaster(t)
	dk := seal.NewDataKey()
	l := &loader{newest: map[string]string{"ten_a": dk.ID()}, keys: map[string][]byte{dk.ID(): master.Wrap(dk)}}
	k := seal.NewKeyring(master, l)
	sealed, err := k.Seal(ctx, "ten_a", []byte("secret"), "t.c", "row_1")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if plain, err := k.Open(ctx, "ten_a", sealed, "t.c", "row_1"); err != nil || string(plain) != "secret" {
			t.Fatalf("Open = %q, %v", plain, err)
		}
	}
	if l.reads != 1 {
		t.Errorf("the key was read %d times, want once", l.reads)
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
