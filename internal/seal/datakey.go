package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Layout of a sealed value:
//
//	version (1) | len(id) (1) | id | nonce (12) | ciphertext | tag (16)
//
// The header (version, len(id), id) is authenticated together with the
// caller's additional data, so it cannot be edited without Open failing.
const (
	sealVersion  = 1
	nonceSize    = 12 // the standard GCM nonce
	tagSize      = 16 // the standard GCM tag
	maxKeyIDSize = 255
)

// subjectKeyInfo is the HKDF info of SubjectKey; bump the version to derive an
// unrelated key.
const subjectKeyInfo = "sluice subject index v1"

// DataKey encrypts rows of one tenant. Make one with NewDataKey or
// Master.Unwrap; the zero value is not usable. A DataKey is safe for
// concurrent use.
//
// Printing a DataKey (fmt with any verb, or log/slog) shows only its id.
type DataKey struct {
	id     string
	key    []byte      // raw AES-256 key; never leaves the package except wrapped
	aead   cipher.AEAD // built once from key
	header []byte      // version, len(id), id: the prefix of every value k seals
}

// NewDataKey returns a fresh random data key with a new id: "dk_" followed by
// 26 lowercase base32 characters (128 random bits).
func NewDataKey() *DataKey {
	id := "dk_" + strings.ToLower(rand.Text())
	k, err := newDataKey(id, randomBytes(KeySize))
	if err != nil {
		// Unreachable: the id and key sizes are fixed and valid.
		panic(err)
	}
	return k
}

// newDataKey builds a DataKey, taking ownership of key.
func newDataKey(id string, key []byte) (*DataKey, error) {
	if len(id) == 0 || len(id) > maxKeyIDSize {
		return nil, fmt.Errorf("seal: data key id must be 1 to %d bytes, got %d", maxKeyIDSize, len(id))
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &DataKey{id: id, key: key, aead: aead, header: SealedPrefix(id)}, nil
}

// newAEAD returns AES-256-GCM under key; it never mentions the key's bytes.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: gcm: %w", err)
	}
	return aead, nil
}

// ID returns the key's id, which is stored beside its wrapped bytes and inside
// every value it seals.
func (k *DataKey) ID() string { return k.id }

// Seal encrypts plaintext with AES-256-GCM and a random 96-bit nonce; aad is
// authenticated, not stored — pass the same aad to Open (see AAD).
//
// The result is self-describing: a version byte (1), the key id length (1
// byte) and key id, the nonce, then ciphertext and tag. Sealing nil or empty
// plaintext still produces a valid sealed value that opens to empty.
func (k *DataKey) Seal(plaintext, aad []byte) []byte {
	hl := len(k.header)
	out := make([]byte, hl+nonceSize, hl+nonceSize+len(plaintext)+tagSize)
	copy(out, k.header)
	nonce := out[hl : hl+nonceSize]
	_, _ = rand.Read(nonce) // never fails since Go 1.24
	return k.aead.Seal(out, nonce, plaintext, k.fullAAD(aad))
}

// Open reverses Seal. Anything that does not authenticate — other aad, a
// flipped bit anywhere, truncation, an unknown version, a value sealed under
// another key — returns an error matching ErrIntegrity and no plaintext.
func (k *DataKey) Open(sealed, aad []byte) ([]byte, error) {
	hl := len(k.header)
	if len(sealed) < hl+nonceSize+tagSize || !bytes.Equal(sealed[:hl], k.header) {
		id, _, err := parseSealed(sealed)
		if err != nil {
			return nil, err
		}
		// Not secret, and the most useful hint an operator can get.
		return nil, fmt.Errorf("%w: sealed under data key %q, not %q", ErrIntegrity, id, k.id)
	}
	nonce, ciphertext := sealed[hl:hl+nonceSize], sealed[hl+nonceSize:]
	plaintext, err := k.aead.Open(make([]byte, 0, len(ciphertext)-tagSize), nonce, ciphertext, k.fullAAD(aad))
	if err != nil {
		return nil, ErrIntegrity
	}
	return plaintext, nil
}

// fullAAD is what GCM authenticates: the sealed value's header, then aad.
func (k *DataKey) fullAAD(aad []byte) []byte {
	full := make([]byte, 0, len(k.header)+len(aad))
	full = append(full, k.header...)
	return append(full, aad...)
}

// SealedKeyID returns the data key id written in a sealed value, so a reader
// can pick the key to Open it with. It returns ErrIntegrity if the value is
// too short to be sealed or its header is malformed; a nil error does not mean
// the value authenticates — only Open says that.
func SealedKeyID(sealed []byte) (string, error) {
	id, _, err := parseSealed(sealed)
	return id, err
}

// SealedPrefix returns the bytes every value sealed under the data key id
// starts with (its version, id length and id), so that a store can find
// them without opening any.
func SealedPrefix(id string) []byte {
	out := make([]byte, 0, 2+len(id))
	out = append(out, sealVersion, byte(len(id)))
	return append(out, id...)
}

// parseSealed splits a sealed value into its key id and nonce+ciphertext+tag,
// checking only lengths and the version.
func parseSealed(sealed []byte) (id string, rest []byte, err error) {
	if len(sealed) < 2 || sealed[0] != sealVersion {
		return "", nil, ErrIntegrity
	}
	n := int(sealed[1])
	if n == 0 || len(sealed) < 2+n+nonceSize+tagSize {
		return "", nil, ErrIntegrity
	}
	return string(sealed[2 : 2+n]), sealed[2+n:], nil
}

// SubjectKey derives the key for the tenant's subject index from the data key:
// HKDF-SHA256(data key, salt nil, info "sluice subject index v1"), KeySize
// bytes. It survives master-key rotation because rotation only re-wraps data
// keys. Each call returns a new slice the caller may keep.
func (k *DataKey) SubjectKey() []byte {
	sk, err := hkdf.Key(sha256.New, k.key, nil, subjectKeyInfo, KeySize)
	if err != nil {
		// Unreachable: KeySize is far below HKDF-SHA256's 255*32-byte limit.
		panic("seal: derive subject key: " + err.Error())
	}
	return sk
}

// String returns the key's id and nothing else, so an accidental %v in a log
// line is safe.
func (k DataKey) String() string { return k.id }

// GoString returns the key's id in Go syntax, for %#v; never the key bytes.
func (k DataKey) GoString() string { return fmt.Sprintf("seal.DataKey{ID: %q}", k.id) }

// Format prints the key's id under every verb (the id in Go syntax for %#v),
// so no verb — %d or %x included — can reach the key bytes.
func (k DataKey) Format(f fmt.State, verb rune) { formatSafe(f, verb, k.String(), k.GoString()) }

// LogValue logs the key as its id.
func (k DataKey) LogValue() slog.Value { return slog.StringValue(k.id) }

// formatSafe prints s with the caller's verb and flags, or gs for %#v.
func formatSafe(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, gs)
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), s)
}
