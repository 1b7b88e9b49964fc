// Package storekit holds what the stores share beyond SQL: the keyring that
// seals and opens personal data under the tenants' data keys, the keyed
// hashes of subjects and dedup keys, and the column encodings of sources
// and destinations. Each store supplies only how its data keys are read.
package storekit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
	"github.com/sluicehq/sluice/internal/subject"
)

// KeyLoader reads a store's wrapped data keys. Both return an error
// wrapping an ENOTFOUND *sluice.Error when there is no such key.
type KeyLoader interface {
	// NewestDataKey returns the id and wrapped bytes of the tenant's newest
	// data key: the one that seals new values.
	NewestDataKey(ctx context.Context, tenantID string) (id string, wrapped []byte, err error)
	// DataKey returns the wrapped bytes of the data key with the id.
	DataKey(ctx context.Context, id string) (wrapped []byte, err error)
}

// Keyring seals and opens a store's personal data. It caches data keys
// once unwrapped; keys enter it only by loading committed rows, so a
// rolled-back tenant never leaves a key behind.
type Keyring struct {
	master *seal.Master
	load   KeyLoader

	mu      sync.RWMutex
	byID    map[string]*seal.DataKey
	current map[string]*seal.DataKey // tenant id → the key that seals new values
}

// NewKeyring returns a keyring unwrapping with master and loading with load.
func NewKeyring(master *seal.Master, load KeyLoader) *Keyring {
	return &Keyring{master: master, load: load,
		byID: make(map[string]*seal.DataKey), current: make(map[string]*seal.DataKey)}
}

// Master is the master key the keyring unwraps with.
func (k *Keyring) Master() *seal.Master { return k.master }

// NewDataKey makes a data key for a new tenant and returns its id and its
// bytes wrapped by the master key, for the store to insert.
func (k *Keyring) NewDataKey() (id string, wrapped []byte) {
	dk := seal.NewDataKey()
	return dk.ID(), k.master.Wrap(dk)
}

func (k *Keyring) tenantKey(ctx context.Context, tenantID string) (*seal.DataKey, error) {
	k.mu.RLock()
	dk := k.current[tenantID]
	k.mu.RUnlock()
	if dk != nil {
		return dk, nil
	}
	id, wrapped, err := k.load.NewestDataKey(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("data key of tenant %s: %w", tenantID, err)
	}
	if dk, err = k.unwrap(id, wrapped); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.current[tenantID] = dk
	k.mu.Unlock()
	return dk, nil
}

func (k *Keyring) keyByID(ctx context.Context, id string) (*seal.DataKey, error) {
	k.mu.RLock()
	dk := k.byID[id]
	k.mu.RUnlock()
	if dk != nil {
		return dk, nil
	}
	wrapped, err := k.load.DataKey(ctx, id)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return nil, fmt.Errorf("data key %s: %w", id, sluice.ErrIntegrity)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	return k.unwrap(id, wrapped)
}

func (k *Keyring) unwrap(id string, wrapped []byte) (*seal.DataKey, error) {
	dk, err := k.master.Unwrap(id, wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key %s: %w", id, err)
	}
	k.mu.Lock()
	k.byID[id] = dk
	k.mu.Unlock()
	return dk, nil
}

// Seal seals plaintext under the tenant's data key, bound to the column
// and row (see seal.AAD).
func (k *Keyring) Seal(ctx context.Context, tenantID string, plaintext []byte, column, rowID string) ([]byte, error) {
	dk, err := k.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return dk.Seal(plaintext, seal.AAD(tenantID, column, rowID)), nil
}

// Open opens a value Seal sealed for the same tenant, column and row. A
// value that does not authenticate is an error wrapping sluice.ErrIntegrity.
func (k *Keyring) Open(ctx context.Context, tenantID string, sealed []byte, column, rowID string) ([]byte, error) {
	id, err := seal.SealedKeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, sluice.ErrIntegrity)
	}
	dk, err := k.keyByID(ctx, id)
	if err != nil {
		return nil, err
	}
	plain, err := dk.Open(sealed, seal.AAD(tenantID, column, rowID))
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, sluice.ErrIntegrity)
	}
	return plain, nil
}

// SealPayload seals a payload's body and, if it has any, its headers.
func (k *Keyring) SealPayload(ctx context.Context, tenantID, eventID string, p *sluice.Payload) (body, headers []byte, err error) {
	if body, err = k.Seal(ctx, tenantID, p.Body, "event_payloads.body", eventID); err != nil {
		return nil, nil, err
	}
	if p.Headers == nil {
		return body, nil, nil
	}
	plain, err := json.Marshal(p.Headers)
	if err != nil {
		return nil, nil, fmt.Errorf("encode headers: %w", err)
	}
	if headers, err = k.Seal(ctx, tenantID, plain, "event_payloads.headers", eventID); err != nil {
		return nil, nil, err
	}
	return body, headers, nil
}

// OpenPayload opens what SealPayload sealed; sealedHeaders may be nil.
func (k *Keyring) OpenPayload(ctx context.Context, tenantID, eventID string, sealedBody, sealedHeaders []byte) ([]byte, http.Header, error) {
	body, err := k.Open(ctx, tenantID, sealedBody, "event_payloads.body", eventID)
	if err != nil || sealedHeaders == nil {
		return body, nil, err
	}
	plain, err := k.Open(ctx, tenantID, sealedHeaders, "event_payloads.headers", eventID)
	if err != nil {
		return nil, nil, err
	}
	var headers http.Header
	if err := json.Unmarshal(plain, &headers); err != nil {
		return nil, nil, fmt.Errorf("decode headers of %s: %w", eventID, err)
	}
	return body, headers, nil
}

// SubjectHash is the tenant's keyed hash of a normalised subject. The key
// derives from the tenant's data key, so it survives a master key rotation.
func (k *Keyring) SubjectHash(ctx context.Context, tenantID string, s sluice.Subject) ([]byte, error) {
	dk, err := k.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return subject.Hash(dk.SubjectKey(), subject.Subject{Type: s.Type, Value: s.Value}), nil
}

// SubjectHashes returns the distinct keyed hashes of the subjects.
func (k *Keyring) SubjectHashes(ctx context.Context, tenantID string, subjects []sluice.Subject) ([][]byte, error) {
	var out [][]byte
	seen := make(map[string]bool, len(subjects))
	for _, s := range subjects {
		h, err := k.SubjectHash(ctx, tenantID, s)
		if err != nil {
			return nil, err
		}
		if !seen[string(h)] {
			seen[string(h)] = true
			out = append(out, h)
		}
	}
	return out, nil
}

// DedupDigest is what a store keeps of a dedup key: an idempotency key or a
// provider's event id may carry personal data ("order-ada@example.com"), so
// only its keyed hash is stored, under the tenant's subject key.
func (k *Keyring) DedupDigest(ctx context.Context, tenantID, key string) (string, error) {
	dk, err := k.tenantKey(ctx, tenantID)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, dk.SubjectKey())
	mac.Write([]byte("dedup\x00"))
	mac.Write([]byte(key))
	return hex.EncodeToString(mac.Sum(nil)), nil
}
