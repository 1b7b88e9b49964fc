package seal_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/seal"
)

func BenchmarkSeal1KiB(b *testing.B) {
	k := seal.NewDataKey()
	plaintext := randomBytes(1024)
	aad := seal.AAD("ten_1", "event_payloads.body", "evt_1")
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	for b.Loop() {
		_ = k.Seal(plaintext, aad)
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	k := seal.NewDataKey()
	aad := seal.AAD("ten_1", "event_payloads.body", "evt_1")
	sealed := k.Seal(randomBytes(1024), aad)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrap(b *testing.B) {
	m, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	k := seal.NewDataKey()
	wrapped := m.Wrap(k)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Unwrap(k.ID(), wrapped); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeyringSeal1KiB is the keyring's cost over DataKey.Seal:
// finding the tenant's key and counting the value, from every core.
func BenchmarkKeyringSeal1KiB(b *testing.B) {
	m, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	store := newMemStore()
	store.add(m, "ten_1")
	k := seal.NewKeyring(m, store, seal.Policy{RotateAfter: 1 << 30})
	plaintext := randomBytes(1024)
	b.SetBytes(int64(len(plaintext)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := k.Seal(context.Background(), "ten_1", plaintext, "event_payloads.body", "evt_1"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkKeyringSubjectKey is the cost of the key of a tenant's keyed
// hashes, taken for every subject and dedup key.
func BenchmarkKeyringSubjectKey(b *testing.B) {
	m, err := seal.NewMaster(seal.GenerateKey())
	if err != nil {
		b.Fatal(err)
	}
	store := newMemStore()
	store.add(m, "ten_1")
	k := seal.NewKeyring(m, store, seal.Policy{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.SubjectKey(context.Background(), "ten_1"); err != nil {
			b.Fatal(err)
		}
	}
}
