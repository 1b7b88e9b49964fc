package seal

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Layout of a wrapped data key:
//
//	version (1) | nonce (12) | encrypted key (32) | tag (16)
//
// The data key's id is the additional data, so a wrapped key stored under
// another id does not unwrap.
const (
	wrapVersion = 1
	wrappedSize = 1 + nonceSize + KeySize + tagSize
)

// fingerprintLabel is the message HMAC'd under the master key to fingerprint it.
const fingerprintLabel = "sluice master key fingerprint"

// fetchKeyInfo is the HKDF info of FetchKey; bump the version to derive an
// unrelated key (and void every fetch token outstanding).
const fetchKeyInfo = "sluice fetch token v1"

// Master is the master key: it only wraps and unwraps data keys, never
// payloads. It keeps no copy of the raw key. A Master is safe for concurrent
// use.
//
// Printing a Master (fmt with any verb, or log/slog) shows only its
// fingerprint.
type Master struct {
	aead        cipher.AEAD
	fingerprint string
	fetchKey    []byte // see FetchKey
}

// NewMaster returns the master key for key, which must be KeySize bytes; the
// error says only the expected and actual lengths, never key bytes. NewMaster
// does not keep key, so the caller may wipe it.
func NewMaster(key []byte) (*Master, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("seal: master key must be %d bytes, got %d", KeySize, len(key))
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(fingerprintLabel))
	fetchKey, err := hkdf.Key(sha256.New, key, nil, fetchKeyInfo, KeySize)
	if err != nil {
		// Unreachable: KeySize is far below HKDF-SHA256's 255*32-byte limit.
		return nil, fmt.Errorf("seal: derive fetch key: %w", err)
	}
	return &Master{aead: aead, fingerprint: hex.EncodeToString(mac.Sum(nil)[:8]), fetchKey: fetchKey}, nil
}

// FetchKey is the key that signs the fetch tokens of thin deliveries:
// HKDF-SHA256(master key, salt nil, info "sluice fetch token v1"),
// KeySize bytes. Every process sharing a store has the master key, so
// each checks a token any of them issued, and no second secret needs
// configuring; a new master key voids the tokens outstanding. Each call
// returns a new slice the caller may keep.
func (m *Master) FetchKey() []byte { return append([]byte(nil), m.fetchKey...) }

// Fingerprint identifies the master key without revealing it: hex of the
// first 8 bytes of HMAC-SHA256(key, "sluice master key fingerprint"). It is
// stored beside wrapped keys so start-up can say "this is not the master key
// that wrapped these data keys" instead of failing on every read.
func (m *Master) Fingerprint() string { return m.fingerprint }

// Wrap encrypts a data key's bytes under the master key (AES-256-GCM, random
// nonce, the data key's ID as additional data). Store the result beside
// k.ID() and m.Fingerprint().
func (m *Master) Wrap(k *DataKey) []byte { return m.wrap(k.key, []byte(k.id)) }

// wrap encrypts a KeySize key under the master key, bound to aad.
func (m *Master) wrap(key, aad []byte) []byte {
	out := make([]byte, 1+nonceSize, wrappedSize)
	out[0] = wrapVersion
	nonce := out[1 : 1+nonceSize]
	_, _ = rand.Read(nonce) // never fails since Go 1.24
	return m.aead.Seal(out, nonce, key, aad)
}

// Unwrap opens a data key wrapped by Wrap and stored under id. It returns
// ErrWrongMaster if wrapped does not authenticate — another master key wrapped
// it, it was stored under another id, or it was tampered with (the
// fingerprint tells these apart) — and an error matching ErrIntegrity if
// wrapped is not a wrapped key at all (wrong length or version) or id is not
// 1 to 255 bytes.
func (m *Master) Unwrap(id string, wrapped []byte) (*DataKey, error) {
	if len(wrapped) != wrappedSize || wrapped[0] != wrapVersion {
		return nil, fmt.Errorf("%w: wrapped data key %q is malformed (%d bytes)", ErrIntegrity, id, len(wrapped))
	}
	if len(id) == 0 || len(id) > maxKeyIDSize {
		return nil, fmt.Errorf("%w: data key id must be 1 to %d bytes, got %d", ErrIntegrity, maxKeyIDSize, len(id))
	}
	key, err := m.unwrap(wrapped, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("%w (data key %q, master key %s)", ErrWrongMaster, id, m.fingerprint)
	}
	return newDataKey(id, key)
}

// unwrap opens what wrap wrapped with aad; its length and version are
// checked already.
func (m *Master) unwrap(wrapped, aad []byte) ([]byte, error) {
	nonce, ciphertext := wrapped[1:1+nonceSize], wrapped[1+nonceSize:]
	return m.aead.Open(make([]byte, 0, KeySize), nonce, ciphertext, aad)
}

// String returns the master key's fingerprint and nothing else, so an
// accidental %v in a log line is safe.
func (m Master) String() string { return m.fingerprint }

// GoString returns the fingerprint in Go syntax, for %#v; never key material.
func (m Master) GoString() string {
	return fmt.Sprintf("seal.Master{Fingerprint: %q}", m.fingerprint)
}

// Format prints the fingerprint under every verb (in Go syntax for %#v), so
// no verb — %d or %x included — can reach the cipher's key schedule.
func (m Master) Format(f fmt.State, verb rune) { formatSafe(f, verb, m.String(), m.GoString()) }

// LogValue logs the master key as its fingerprint.
func (m Master) LogValue() slog.Value { return slog.StringValue(m.fingerprint) }
