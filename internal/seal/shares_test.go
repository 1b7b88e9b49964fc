package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
)

// All the shares rebuild the key; all but one rebuild something else; a
// key from bytes seals what it opens.
func TestSplitJoinKey(t *testing.T) {
	t.Parallel()
	key := seal.NewKey()
	for n := range 4 {
		shares := seal.SplitKey(key, n)
		if len(shares) != n+1 {
			t.Fatalf("SplitKey(%d) = %d shares", n, len(shares))
		}
		got, err := seal.JoinKey(shares)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("JoinKey of all %d shares = %x, %v", n+1, got, err)
		}
		if n == 0 {
			continue
		}
		if got, _ := seal.JoinKey(shares[1:]); bytes.Equal(got, key) {
			t.Fatalf("JoinKey without a share rebuilt the key")
		}
	}
	if _, err := seal.JoinKey([][]byte{key, key[:16]}); !errors.Is(err, seal.ErrIntegrity) {
		t.Fatalf("JoinKey of uneven shares: %v", err)
	}
	k, err := seal.KeyFromBytes("ev", key)
	if err != nil {
		t.Fatal(err)
	}
	aad := seal.AAD("ten", "t.c", "row")
	again, _ := seal.KeyFromBytes("ev", key)
	if plain, err := again.Open(k.Seal([]byte("body"), aad), aad); err != nil || string(plain) != "body" {
		t.Fatalf("a key from the same bytes opens %q, %v", plain, err)
	}
	other, _ := seal.KeyFromBytes("ev", seal.NewKey())
	if _, err := other.Open(k.Seal([]byte("body"), aad), aad); !errors.Is(err, seal.ErrIntegrity) {
		t.Fatalf("another key opened it: %v", err)
	}
}
