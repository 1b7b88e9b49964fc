//go:build unix

package main_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		names[e.Name()] = true
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", e.Name(), mode)
		}
	}
	for _, name := range []string{"sluice.db", "sluice.db-wal", "sluice.db-shm", "master.key"} {
		if !names[name] {
			t.Errorf("%s is not in the data directory (has %v)", name, names)
		}
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o700 {
		t.Errorf("the data directory has mode %o, want 700", mode)
	}
}
