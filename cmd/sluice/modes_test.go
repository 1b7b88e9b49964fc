//go:build unix

package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testkit"
)

// Every file sluice serve writes in its data directory is its owner's
// alone, and so is the directory.
func TestDataDirOwnerOnly(t *testing.T) {
	t.Parallel()
	dir, token := filepath.Join(t.TempDir(), "data"), sluice.NewToken()
	p := startSluice(t, dir, "SLUICE_ADMIN_TOKEN="+token)
	publish(t, p, token, map[string]any{"type": "order.paid", "payload": map[string]any{"n": 1}})
	if code := call(t, "GET", p.url+"/v1/events", token, nil, nil); code != http.StatusOK {
		t.Fatalf("list events: %d", code)
	}
	testkit.RequireOwnerOnly(t, dir, "sluice.db", "sluice.db-wal", "sluice.db-shm", "master.key")
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("the data directory has mode %o, want 700", mode)
	}
}
