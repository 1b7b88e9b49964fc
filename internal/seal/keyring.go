package seal

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrUnknownKey is what a KeyLoader returns (wrapped) when it has no data
// key with the id or for the tenant asked for.
var ErrUnknownKey = errors.New("seal: no such data key")

// KeyLoader reads a store's wrapped data keys.
type KeyLoader interface {
	// NewestDataKey returns the id and wrapped bytes of the tenant's newest
	// data key: the one that seals new values.
	NewestDataKey(ctx context.Context, tenantID string) (id string, wrapped []byte, err error)
	// DataKey returns the wrapped bytes of the data key with the id.
	DataKey(ctx context.Context, id string) (wrapped []byte, err error)
}

// Keyring seals and opens the values of many tenants, each under its own
// data key, loading the keys it needs from a store and unwrapping them
// with the master key. It caches a key once unwrapped; keys enter it only
// by loading committed rows, so a rolled-back tenant never leaves a key
// behind. A Keyring is safe for concurrent use.
type Keyring struct {
	master *Master
	load   KeyLoader

	mu      sync.RWMutex
	byID    map[string]*DataKey
	current map[string]*DataKey // tenant id → the key that seals new values
}

// NewKeyring returns a keyring unwrapping with master and loading with load.
func NewKeyring(master *Master, load KeyLoader) *Keyring {
	return &Keyring{master: master, load: load,
		byID: make(map[string]*DataKey), current: make(map[string]*DataKey)}
}

// Master is the master key the keyring unwraps with.
func (k *Keyring) Master() *Master { return k.master }

// NewDataKey makes a data key for a new tenant and returns its id and its
// bytes wrapped by the master key, for the store to insert.
func (k *Keyring) NewDataKey() (id string, wrapped []byte) {
	dk := NewDataKey()
	return dk.ID(), k.master.Wrap(dk)
}

// tenantKey returns the key that seals the tenant's new values.
func (k *Keyring) tenantKey(ctx context.Context, tenantID string) (*DataKey, error) {
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

// keyByID returns the data key with the id. A key the store does not
// have opens nothing: ErrIntegrity.
func (k *Keyring) keyByID(ctx context.Context, id string) (*DataKey, error) {
	k.mu.RLock()
	dk := k.byID[id]
	k.mu.RUnlock()
	if dk != nil {
		return dk, nil
	}
	wrapped, err := k.load.DataKey(ctx, id)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fmt.Errorf("data key %s: %w", id, ErrIntegrity)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	return k.unwrap(id, wrapped)
}

func (k *Keyring) unwrap(id string, wrapped []byte) (*DataKey, error) {
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
// and row (see AAD).
func (k *Keyring) Seal(ctx context.Context, tenantID string, plaintext []byte, column, rowID string) ([]byte, error) {
	dk, err := k.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return dk.Seal(plaintext, AAD(tenantID, column, rowID)), nil
}

// Open opens a value Seal sealed for the same tenant, column and row. A
// value that does not authenticate, or names a key the store does not
// have, is an error wrapping ErrIntegrity.
func (k *Keyring) Open(ctx context.Context, tenantID string, sealed []byte, column, rowID string) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, ErrIntegrity)
	}
	dk, err := k.keyByID(ctx, id)
	if err != nil {
		return nil, err
	}
	plain, err := dk.Open(sealed, AAD(tenantID, column, rowID))
	if err != nil {
		return nil, fmt.Errorf("%s of %s: %w", column, rowID, ErrIntegrity)
	}
	return plain, nil
}

// SubjectKey returns the key of the tenant's keyed hashes (see
// DataKey.SubjectKey): derived from its data key, so it survives a master
// key rotation.
func (k *Keyring) SubjectKey(ctx context.Context, tenantID string) ([]byte, error) {
	dk, err := k.tenantKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return dk.SubjectKey(), nil
}
