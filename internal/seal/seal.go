// Package seal is Sluice's envelope encryption: no plaintext at rest
// (docs/privacy.md).
//
// Every tenant has a DataKey that encrypts its rows with AES-256-GCM. Data keys
// are stored only wrapped (encrypted) by the Master key, together with their
// id, so rotating the master key re-wraps a handful of data keys and never
// rewrites a payload. Each sealed value names the data key that sealed it, so a
// reader can pick the right key and keys can rotate one at a time.
//
// The package is a leaf: it imports only the standard library.
package seal

import (
	"crypto/rand"
	"errors"
)

// KeySize is the size of master and data keys: 32 bytes (AES-256).
const KeySize = 32

var (
	// ErrIntegrity is returned by Open and SealedKeyID when a sealed value
	// does not authenticate or is malformed: tampered, truncated, sealed with
	// other additional data, under another key or in an unknown version. It is
	// also returned (wrapped) by Unwrap for a wrapped key that is malformed.
	ErrIntegrity = errors.New("seal: ciphertext failed its integrity check")

	// ErrWrongMaster is returned by Unwrap when a wrapped data key does not
	// authenticate under the master key — usually because another master key
	// wrapped it (compare Fingerprint), or because it was stored under another
	// id.
	ErrWrongMaster = errors.New("seal: the master key does not open this data key")
)

// GenerateKey returns KeySize fresh random bytes (for a new master key).
func GenerateKey() []byte {
	return randomBytes(KeySize)
}

// randomBytes returns n bytes from crypto/rand. Since Go 1.24 rand.Read never
// returns an error: it crashes the program if the system's source fails, which
// is the right answer for a key generator.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// AAD builds additional data binding a sealed value to its place: the parts
// joined with a 0x00 separator, e.g. AAD(tenantID, "event_payloads.body",
// eventID), so a ciphertext copied to another row, column or tenant fails to
// open.
//
// The encoding is injective for a fixed number of parts: a part's own 0x00 and
// 0x01 bytes are escaped (0x01 0x01 and 0x01 0x02), so AAD("a\x00b", "c")
// differs from AAD("a", "b\x00c"). Parts without those bytes — every id Sluice
// makes — are copied unchanged.
func AAD(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	out := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			out = append(out, 0x00)
		}
		for j := 0; j < len(p); j++ {
			switch c := p[j]; c {
			case 0x00:
				out = append(out, 0x01, 0x01)
			case 0x01:
				out = append(out, 0x01, 0x02)
			default:
				out = append(out, c)
			}
		}
	}
	return out
}
