package seal_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/testkit"
)

// FuzzOpen: Open never panics, and succeeds only on a value Seal made with the
// key and aad. The key is the golden one (the same in every fuzz worker), so
// the only input that may open is the golden sealed value; more seeds are in
// testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	_, k := goldenKeys(f)
	golden := mustHex(f, goldenSealedHex)
	f.Add(golden)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(golden[:len(golden)-1])
	f.Add(golden[:2+len(goldenKeyID)+12+16])
	f.Add(append(bytes.Clone(golden), 0))
	f.Add(mustHex(f, goldenEmptyHex))               // valid, but under other aad
	f.Add(seal.NewDataKey().Seal([]byte("x"), nil)) // another key

	f.Fuzz(func(t *testing.T, sealed []byte) {
		in := bytes.Clone(sealed)
		got, err := k.Open(sealed, goldenAAD())
		if !bytes.Equal(in, sealed) {
			t.Fatal("Open modified its input")
		}
		if err == nil {
			if !bytes.Equal(sealed, golden) || string(got) != goldenPlaintext {
				t.Fatalf("Open succeeded on input Seal did not make: %x -> %q", sealed, got)
			}
		} else if !errors.Is(err, seal.ErrIntegrity) || got != nil {
			t.Fatalf("Open = %q, %v; want nil, ErrIntegrity", got, err)
		}
		id, idErr := seal.SealedKeyID(sealed)
		if err == nil && (idErr != nil || id != goldenKeyID) {
			t.Fatalf("SealedKeyID of an opened value = %q, %v", id, idErr)
		}
		if idErr != nil && !errors.Is(idErr, seal.ErrIntegrity) {
			t.Fatalf("SealedKeyID error = %v, want ErrIntegrity", idErr)
		}
	})
}

// FuzzUnwrap: Unwrap never panics and opens only the golden wrapped key.
func FuzzUnwrap(f *testing.F) {
	m, _ := goldenKeys(f)
	golden := mustHex(f, goldenWrappedHex)
	f.Add(golden)
	f.Add([]byte{})
	f.Add(golden[:len(golden)-1])
	f.Add(testkit.NewMaster(f).Wrap(seal.NewDataKey()))

	f.Fuzz(func(t *testing.T, wrapped []byte) {
		k, err := m.Unwrap(goldenKeyID, wrapped)
		if err == nil {
			if !bytes.Equal(wrapped, golden) || k.ID() != goldenKeyID {
				t.Fatalf("Unwrap succeeded on input Wrap did not make: %x", wrapped)
			}
			return
		}
		if k != nil || !(errors.Is(err, seal.ErrWrongMaster) || errors.Is(err, seal.ErrIntegrity)) {
			t.Fatalf("Unwrap = %v, %v; want nil, ErrWrongMaster or ErrIntegrity", k, err)
		}
	})
}
