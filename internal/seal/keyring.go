package seal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnknownKey is what a KeyStore returns (wrapped) when it has no data
// key with the id or for the tenant asked for.
var ErrUnknownKey = errors.New("seal: no such data key")

// StoredKey is a data key as a store keeps it.
type StoredKey struct {
	ID string
	// Wrapped is the key wrapped by the master key (Master.Wrap).
	Wrapped []byte
	// WrappedSubject is the tenant's subject key wrapped for this data
	// key (Master.WrapSubjectKey); nil for a tenant's first data key, from
	// which the subject key is derived.
	WrappedSubject []byte
	// Seals is how many values the store has counted sealed under it.
	Seals int64
}

// KeyStore keeps a keyring's data keys: wrapped, with a count of the
// values sealed under each.
type KeyStore interface {
	// NewestDataKey returns the tenant's newest data key: the one that
	// seals new values.
	NewestDataKey(ctx context.Context, tenantID string) (StoredKey, error)
	// DataKey returns the wrapped bytes of the data key with the id.
	DataKey(ctx context.Context, id string) (wrapped []byte, err error)
	// AddSeals adds n to the count of values sealed under the data key.
	AddSeals(ctx context.Context, id string, n int64) error
	// RotateDataKey stores next as the tenant's newest data key, unless
	// from is set and the tenant's newest key is another than from
	// already (another process rotated it first), and returns the newest
	// key after.
	RotateDataKey(ctx context.Context, tenantID, from string, next StoredKey) (StoredKey, error)
}

// Defaults for the zero fields of Policy.
const (
	DefaultRefresh    = 5 * time.Second
	DefaultFlushEvery = time.Minute
)

// Policy says how long a keyring trusts what it read of a tenant's key,
// and when it rotates the key.
type Policy struct {
	// RotateAfter is how many values a data key seals before the tenant
	// gets a new one; 0: never. The count is the store's, to which every
	// keyring sharing the store adds its own.
	RotateAfter int64
	// Refresh is how long a keyring seals with the key it read as a
	// tenant's newest before reading again which is: another process may
	// have rotated it. Default DefaultRefresh.
	Refresh time.Duration
	// FlushEvery is how often a keyring adds the values it sealed under a
	// key to the store's count (sooner when they reach RotateAfter).
	// Default DefaultFlushEvery.
	FlushEvery time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Keyring seals and opens the values of many tenants, each under its own
// data key, loading the keys it needs from a store and unwrapping them
// with the master key. It caches a key once unwrapped; keys enter it only
// by loading committed rows, so a rolled-back tenant never leaves a key
// behind.
//
// A tenant's newest key seals. The keyring counts what each key seals
// without writing: it adds its counts to the store's now and then (see
// Policy), and rotates the tenant's key when the count reaches
// RotateAfter, so that no key seals under anywhere near 2^32 random
// nonces. It reads again which key is newest every Policy.Refresh, so it
// stops sealing under a key another process rotated within that time. A
// Keyring is safe for concurrent use.
type Keyring struct {
	master *Master
	store  KeyStore
	policy Policy

	mu      sync.RWMutex
	byID    map[string]*DataKey
	current map[string]*tenantKey // by tenant id
}

// tenantKey is the key that seals a tenant's new values, as the keyring
// last read it, and what it has sealed since.
type tenantKey struct {
	key     *DataKey
	subject []byte // the tenant's subject key

	stored    atomic.Int64 // the seals the store counted when last read
	readAt    atomic.Int64 // when it was last read: the clock's Unix nanoseconds
	flushedAt atomic.Int64 // when its seals were last added to the store's
	pending   atomic.Int64 // seals not added to the store's count yet
	syncing   atomic.Bool  // one goroutine reads it again, the others seal on
}

// NewKeyring returns a keyring unwrapping with master and keeping its
// keys in store, under the policy p.
func NewKeyring(master *Master, store KeyStore, p Policy) *Keyring {
	if p.Refresh <= 0 {
		p.Refresh = DefaultRefresh
	}
	if p.FlushEvery <= 0 {
		p.FlushEvery = DefaultFlushEvery
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Keyring{master: master, store: store, policy: p,
		byID: make(map[string]*DataKey), current: make(map[string]*tenantKey)}
}

// Master is the master key the keyring unwraps with.
func (k *Keyring) Master() *Master { return k.master }

// NewDataKey makes a data key for a new tenant and returns its id and its
// bytes wrapped by the master key, for the store to insert.
func (k *Keyring) NewDataKey() (id string, wrapped []byte) {
	dk := NewDataKey()
	return dk.ID(), k.master.Wrap(dk)
}

// NextDataKey makes a data key to succeed the tenant's newest, carrying
// the tenant's subject key, for the store to insert (see KeyStore's
// RotateDataKey).
func (k *Keyring) NextDataKey(ctx context.Context, tenantID string) (StoredKey, error) {
	tk, err := k.tenant(ctx, tenantID)
	if err != nil {
		return StoredKey{}, err
	}
	return k.nextKey(tk), nil
}

func (k *Keyring) nextKey(tk *tenantKey) StoredKey {
	dk := NewDataKey()
	return StoredKey{ID: dk.ID(), Wrapped: k.master.Wrap(dk), WrappedSubject: k.master.WrapSubjectKey(dk.ID(), tk.subject)}
}

// Forget drops what the keyring read of the tenant's newest key: its next
// value is sealed under the newest key the store has then. Call it after
// rotating the tenant's key.
func (k *Keyring) Forget(tenantID string) {
	k.mu.Lock()
	delete(k.current, tenantID)
	k.mu.Unlock()
}

// ForgetKey drops a data key the store no longer has.
func (k *Keyring) ForgetKey(id string) {
	k.mu.Lock()
	delete(k.byID, id)
	for tenantID, tk := range k.current {
		if tk.key.ID() == id {
			delete(k.current, tenantID)
		}
	}
	k.mu.Unlock()
}

// tenant returns what the keyring knows of the tenant's newest key,
// reading it when it knows nothing.
func (k *Keyring) tenant(ctx context.Context, tenantID string) (*tenantKey, error) {
	k.mu.RLock()
	tk := k.current[tenantID]
	k.mu.RUnlock()
	if tk != nil {
		return tk, nil
	}
	sk, err := k.store.NewestDataKey(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("data key of tenant %s: %w", tenantID, err)
	}
	if tk, err = k.entry(sk); err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur := k.current[tenantID]; cur != nil {
		return cur, nil // read at once by another goroutine, which may have sealed with it
	}
	k.current[tenantID] = tk
	return tk, nil
}

// entry unwraps a tenant's newest key as the store has it.
func (k *Keyring) entry(sk StoredKey) (*tenantKey, error) {
	dk, err := k.unwrap(sk.ID, sk.Wrapped)
	if err != nil {
		return nil, err
	}
	tk := &tenantKey{key: dk}
	if sk.WrappedSubject == nil {
		tk.subject = dk.SubjectKey()
	} else if tk.subject, err = k.master.UnwrapSubjectKey(sk.ID, sk.WrappedSubject); err != nil {
		return nil, err
	}
	now := k.policy.Now().UnixNano()
	tk.stored.Store(sk.Seals)
	tk.readAt.Store(now)
	tk.flushedAt.Store(now)
	return tk, nil
}

// sealingKey returns the key to seal one of the tenant's values with, and
// counts the value. When the key is due to be read again, or has sealed
// its share, one caller reads it again (and rotates it) while the others
// go on sealing with it.
func (k *Keyring) sealingKey(ctx context.Context, tenantID string) (*tenantKey, error) {
	tk, err := k.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if k.due(tk) && tk.syncing.CompareAndSwap(false, true) {
		next, err := k.sync(ctx, tenantID, tk)
		tk.syncing.Store(false)
		if err != nil {
			return nil, err
		}
		tk = next
	}
	tk.pending.Add(1)
	return tk, nil
}

// spent reports whether a key that sealed n values is due for rotation.
func (k *Keyring) spent(n int64) bool { return k.policy.RotateAfter > 0 && n >= k.policy.RotateAfter }

// due reports whether tk is to be read again: it is old, or has sealed
// its share.
func (k *Keyring) due(tk *tenantKey) bool {
	return k.spent(tk.stored.Load()+tk.pending.Load()) ||
		k.policy.Now().UnixNano()-tk.readAt.Load() >= int64(k.policy.Refresh)
}

// sync adds what tk sealed to the store's count when it is time, reads
// which key is the tenant's newest, rotates it if it has sealed its share,
// and returns the key to seal with.
func (k *Keyring) sync(ctx context.Context, tenantID string, tk *tenantKey) (*tenantKey, error) {
	now := k.policy.Now().UnixNano()
	if n := tk.pending.Load(); n > 0 && (now-tk.flushedAt.Load() >= int64(k.policy.FlushEvery) || k.spent(tk.stored.Load()+n)) {
		tk.pending.Add(-n)
		if err := k.store.AddSeals(ctx, tk.key.ID(), n); err != nil {
			tk.pending.Add(n)
			return nil, fmt.Errorf("count the seals of data key %s: %w", tk.key.ID(), err)
		}
		tk.flushedAt.Store(now)
	}
	sk, err := k.store.NewestDataKey(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("data key of tenant %s: %w", tenantID, err)
	}
	if sk.ID == tk.key.ID() && k.spent(sk.Seals) {
		if sk, err = k.store.RotateDataKey(ctx, tenantID, tk.key.ID(), k.nextKey(tk)); err != nil {
			return nil, fmt.Errorf("rotate the data key of tenant %s: %w", tenantID, err)
		}
	}
	if sk.ID == tk.key.ID() {
		tk.stored.Store(sk.Seals)
		tk.readAt.Store(now)
		return tk, nil
	}
	next, err := k.entry(sk)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.current[tenantID] = next
	k.mu.Unlock()
	return next, nil
}

// Flush adds to the store's counts what the keyring sealed and has not
// added yet, as a process does before it ends.
func (k *Keyring) Flush(ctx context.Context) error {
	k.mu.RLock()
	keys := make([]*tenantKey, 0, len(k.current))
	for _, tk := range k.current {
		keys = append(keys, tk)
	}
	k.mu.RUnlock()
	var errs []error
	for _, tk := range keys {
		n := tk.pending.Swap(0)
		if n == 0 {
			continue
		}
		if err := k.store.AddSeals(ctx, tk.key.ID(), n); err != nil {
			tk.pending.Add(n)
			errs = append(errs, fmt.Errorf("count the seals of data key %s: %w", tk.key.ID(), err))
		}
	}
	return errors.Join(errs...)
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
	wrapped, err := k.store.DataKey(ctx, id)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fmt.Errorf("data key %s: %w", id, ErrIntegrity)
	}
	if err != nil {
		return nil, fmt.Errorf("data key %s: %w", id, err)
	}
	return k.unwrap(id, wrapped)
}

// unwrap returns the data key id unwrapped, from the cache when it is
// there.
func (k *Keyring) unwrap(id string, wrapped []byte) (*DataKey, error) {
	k.mu.RLock()
	dk := k.byID[id]
	k.mu.RUnlock()
	if dk != nil {
		return dk, nil
	}
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
// and row (see AAD). It may write to the store: the keyring's seal counts,
// and a new key when the tenant's has sealed its share (see Policy), so
// call it outside the store's transactions.
func (k *Keyring) Seal(ctx context.Context, tenantID string, plaintext []byte, column, rowID string) ([]byte, error) {
	tk, err := k.sealingKey(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return tk.key.Seal(plaintext, AAD(tenantID, column, rowID)), nil
}

// Open opens a value Seal sealed for the same tenant, column and row,
// under whichever of the tenant's keys it names. A value that does not
// authenticate, or names a key the store does not have, is an error
// wrapping ErrIntegrity.
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
// DataKey.SubjectKey): derived from its first data key and carried by
// every later one, so it survives both rotations. Each call returns a new
// slice the caller may keep.
func (k *Keyring) SubjectKey(ctx context.Context, tenantID string) ([]byte, error) {
	tk, err := k.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), tk.subject...), nil
}
