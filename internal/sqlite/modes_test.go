//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Every file of the store is its owner's alone: a new database, its WAL
// and shared memory and its lock file, and those of a database an older
// version created with wider permissions once it is opened again.
func TestFilesOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.db")
	master := testkit.NewMaster(t)
	write := func() {
		t.Helper()
		s, err := openStore(t, path, master)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ten := &sluice.Tenant{ID: sluice.NewID(sluice.PrefixTenant), Name: "t"}
		key := &sluice.APIKey{ID: sluice.NewID(sluice.PrefixKey), Name: "op", Role: sluice.RoleAdmin,
			TokenHash: sluice.HashToken(sluice.NewToken())}
		if err := s.CreateTenant(context.Background(), ten, key); err != nil {
			t.Fatal(err)
		}
		testkit.RequireOwnerOnly(t, dir, "sluice.db", "sluice.db-wal", "sluice.db-shm", "sluice.db.lock")
	}
	write()
	for _, name := range []string{"sluice.db", "sluice.db-wal", "sluice.db-shm"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	write()
}
