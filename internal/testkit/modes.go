package testkit

import (
	"os"
	"testing"
)

// RequireOwnerOnly fails tb unless dir holds every file named in want and
// every file in it is readable and writable by its owner only (0600).
func RequireOwnerOnly(tb testing.TB, dir string, want ...string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			tb.Fatal(err)
		}
		seen[e.Name()] = true
		if mode := info.Mode().Perm(); mode != 0o600 {
			tb.Errorf("%s has mode %o, want 600", e.Name(), mode)
		}
	}
	for _, name := range want {
		if !seen[name] {
			tb.Errorf("%s is not in the directory", name)
		}
	}
}
