package seal_test

import (
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
