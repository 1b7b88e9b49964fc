package signature_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/signature"
)

// BenchmarkSign1KiB signs a 1 KiB delivery, as every attempt does.
func BenchmarkSign1KiB(b *testing.B) {
	s, err := signature.NewSigner(signature.NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"filler":"` + strings.Repeat("x", 1000) + `"}`)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign("evt_0123456789abcdefghijklmnop", now, body)
	}
}

// BenchmarkSignRotating1KiB signs with two secrets, during a rotation.
func BenchmarkSignRotating1KiB(b *testing.B) {
	s, err := signature.NewSigner(signature.NewSecret(), signature.NewSecret())
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"filler":"` + strings.Repeat("x", 1000) + `"}`)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Sign("evt_0123456789abcdefghijklmnop", now, body)
	}
}
