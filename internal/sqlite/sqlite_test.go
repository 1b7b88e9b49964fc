package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
	"github.com/sluicehq/sluice/internal/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) sluice.Store {
		return MustOpen(t, clock)
	})
}

// MustOpen opens a store in a fresh temporary directory, closed at cleanup.
func MustOpen(tb testing.TB, clock *storetest.Clock) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Config{
		Master: newMaster(tb),
		Path:   filepath.Join(tb.TempDir(), "sluice.db"),
		Now:    clock.Now,
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return s
}

// Reopening a store keeps its data and re-runs no migration.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	master := newMaster(t)
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Master: master})
	if err != nil {
		t.Fatal(err)
	}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "default"}
	key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "op", Role: sluice.RoleAdmin, Operator: true,
		TokenHash: sluice.HashToken("t")}
	if err := s.CreateTenant(ctx, ten, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, sqlite.Config{Path: path, Master: master})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if k, err := s.OperatorKey(ctx); err != nil || k.ID != key.ID {
		t.Fatalf("OperatorKey after reopen = %v, %v", k, err)
	}
}

// newMaster returns a fresh master key for a test store.
func newMaster(tb testing.TB) *seal.Master {
	tb.Helper()
	m, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// A store open in one place cannot be opened again until it is closed: the
// embedded store belongs to one process.
func TestOpenIsExclusive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	master := newMaster(t)
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Master: master})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := sqlite.Open(ctx, sqlite.Config{Path: path, Master: master}); err == nil {
		again.Close()
		t.Fatal("a second Open of an open store succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, sqlite.Config{Path: path, Master: master})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

// RewrapKeys moves the data keys to a new master key: afterwards the store
// opens with the new key only, everything reads back, and every tenant's
// audit trail records the rotation.
func TestRewrapKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	oldKey, newKey := newMaster(t), newMaster(t)
	s, err := sqlite.Open(ctx, sqlite.Config{Path: path, Master: oldKey})
	if err != nil {
		t.Fatal(err)
	}
	ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "t"}
	if err := s.CreateTenant(ctx, ten, &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Role: sluice.RoleAdmin,
		TokenHash: sluice.HashToken("t")}); err != nil {
		t.Fatal(err)
	}
	d := &sluice.Destination{ID: sluice.NewID(sluice.PrefixDestination), TenantID: ten.ID, URL: "https://a.example.com/x",
		EventTypes: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true}
	if err := s.CreateDestination(ctx, d); err != nil {
		t.Fatal(err)
	}
	if n, err := s.RewrapKeys(ctx, newKey); err != nil || n != 1 {
		t.Fatalf("RewrapKeys = %d, %v; want 1 data key", n, err)
	}
	s.Close()

	if _, err := sqlite.Open(ctx, sqlite.Config{Path: path, Master: oldKey}); !errors.Is(err, seal.ErrWrongMaster) {
		t.Fatalf("Open with the retired key: %v, want ErrWrongMaster", err)
	}
	s, err = sqlite.Open(ctx, sqlite.Config{Path: path, Master: newKey})
	if err != nil {
		t.Fatalf("Open with the new key: %v", err)
	}
	defer s.Close()
	got, err := s.Destination(ctx, ten.ID, d.ID)
	if err != nil || got.URL != d.URL || got.Secret != d.Secret {
		t.Fatalf("destination after rotation: %+v, %v", got, err)
	}
	entries, _, err := s.AuditLog(ctx, ten.ID, sluice.Page{})
	if err != nil || len(entries) == 0 || entries[0].Action != "master_key.rotate" || entries[0].ResourceID != newKey.Fingerprint() {
		t.Fatalf("newest audit entry after rotation: %+v, %v", entries, err)
	}
}
