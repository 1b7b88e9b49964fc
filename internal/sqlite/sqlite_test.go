package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/engine"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/sqlite"
	"github.com/sluicehq/sluice/internal/storetest"
	"github.com/sluicehq/sluice/internal/testkit"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, openDriver)
}

// openDriver opens a driver on a fresh database.
func openDriver(t *testing.T) engine.Driver { return testkit.OpenSQLite(t) }

// carveConfig reads the database file, its write-ahead log and its index.
var carveConfig = storetest.CarveConfig{
	PageSize: 4096,
	Files: func(t *testing.T, d engine.Driver) []string {
		path := sqlite.Path(d.(*sqlite.Driver))
		return []string{path, path + "-wal", path + "-shm"}
	},
}

// execScript runs a script in the writer's transaction.
func execScript(t *testing.T, d engine.Driver, script string) {
	if err := sqlite.ExecScript(context.Background(), d.(*sqlite.Driver), script); err != nil {
		t.Fatal(err)
	}
}

func TestCarve(t *testing.T) {
	t.Parallel()
	storetest.Carve(t, openDriver, carveConfig)
}

func TestCarveRetiredKey(t *testing.T) {
	t.Parallel()
	storetest.CarveRetiredKey(t, openDriver, carveConfig)
}

func TestLegacySubjects(t *testing.T) {
	t.Parallel()
	storetest.LegacySubjects(t, openDriver, execScript)
}

func TestLegacyPaths(t *testing.T) {
	t.Parallel()
	storetest.LegacyPaths(t, openDriver, execScript, carveConfig)
}

// openStore opens the engine over the database at path with the master
// key; the caller closes it.
func openStore(t *testing.T, path string, master *seal.Master) (*engine.Store, error) {
	t.Helper()
	ctx := context.Background()
	d, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.Open(ctx, engine.Config{Driver: d, Master: master})
	if err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

// Reopening a store keeps its data and re-runs no migration.
func TestReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	master := testkit.NewMaster(t)
	s, err := openStore(t, path, master)
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
	s, err = openStore(t, path, master)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if k, err := s.OperatorKey(ctx); err != nil || k.ID != key.ID {
		t.Fatalf("OperatorKey after reopen = %v, %v", k, err)
	}
}

// A database open in one place cannot be opened again until it is closed:
// the embedded store belongs to one process.
func TestOpenIsExclusive(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	d, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := sqlite.Open(ctx, sqlite.Config{Path: path}); err == nil {
		again.Close()
		t.Fatal("a second Open of an open database succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	d.Close()
}

// RewrapKeys moves the data keys to a new master key: afterwards the store
// opens with the new key only, everything reads back, and every tenant's
// audit trail records the rotation.
func TestRewrapKeys(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sluice.db")
	ctx := context.Background()
	oldKey, newKey := testkit.NewMaster(t), testkit.NewMaster(t)
	s, err := openStore(t, path, oldKey)
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

	if _, err := openStore(t, path, oldKey); !errors.Is(err, seal.ErrWrongMaster) {
		t.Fatalf("Open with the retired key: %v, want ErrWrongMaster", err)
	}
	s, err = openStore(t, path, newKey)
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
