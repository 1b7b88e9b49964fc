package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/seal"
)

// Crypto-shredding. A payload that names data subjects is sealed under a
// key of its own, the event key, split (seal.SplitKey) into one share per
// subject, each sealed under that subject's key, and one share sealed
// under the tenant's data key. Each subject's key is stored sealed under
// the tenant's key too. Erasing a subject deletes its key: the event keys
// of every payload naming it can no longer be rebuilt, whatever copy of
// the payload's bytes is left in free pages, logs or backups that lack the
// subject's key. A payload that names no subject is sealed under the
// tenant's key, as every payload was before subject keys.

// Ids the event and subject keys name in what they seal: the key itself
// is found from the row, not by id.
const (
	eventKeyID   = "ek"
	subjectKeyID = "sk"
)

// Columns the shares and subject keys are bound to (see seal.AAD).
const (
	columnSubjectKey    = "subject_keys.sealed_key"
	columnSubjectShare  = "subject_index.key_share"
	columnTenantShare   = "event_payloads.key_share"
	maxCachedSubjectKey = 10_000
)

// errSubjectErased is what opening a payload meets when a subject it names
// was erased while the payload was read: it is gone.
var errSubjectErased = sluice.Errorf(sluice.EGONE, "the payload of this event was erased")

// subjectKey is a subject's opened key, with the id of its stored row.
// A subject erased and seen again gets a new key under a new id, which
// links to it name: a link made with a key erased meanwhile names a row
// that is gone, and fails.
type subjectKey struct {
	id  int64
	key *seal.DataKey
}

// subjectKeyCache keeps subjects' keys once opened, by tenant and hash. An
// erasure in this process forgets the key at once; a key another process
// erased is found out when an event sealed with it cannot be linked to
// the subject (its key row is gone), which forgets it too, and a key
// another process made since is told apart by its id.
type subjectKeyCache struct {
	mu   sync.RWMutex
	keys map[subjectCacheKey]subjectKey
}

// subjectCacheKey names a subject of a tenant; a struct, so that a lookup
// allocates nothing. Subject hashes are HMAC-SHA256 sums, 32 bytes.
type subjectCacheKey struct {
	tenantID string
	hash     [32]byte
}

func cacheKey(tenantID string, hash []byte) subjectCacheKey {
	k := subjectCacheKey{tenantID: tenantID}
	copy(k.hash[:], hash)
	return k
}

func (c *subjectKeyCache) get(tenantID string, hash []byte) (subjectKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[cacheKey(tenantID, hash)]
	return k, ok
}

func (c *subjectKeyCache) put(tenantID string, hash []byte, k subjectKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxCachedSubjectKey {
		c.keys = make(map[subjectCacheKey]subjectKey)
	}
	c.keys[cacheKey(tenantID, hash)] = k
}

func (c *subjectKeyCache) forget(tenantID string, hashes ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hashes {
		delete(c.keys, cacheKey(tenantID, h))
	}
}

// missingKeys returns the hashes whose keys the cache does not hold: the
// driver reads them in the event's transaction (Driver.CreateEvent).
func (s *Store) missingKeys(tenantID string, hashes [][]byte) [][]byte {
	var missing [][]byte
	for _, h := range hashes {
		if _, ok := s.subjectCache.get(tenantID, h); !ok {
			missing = append(missing, h)
		}
	}
	return missing
}

// keylessError is what resolving subjects' keys meets for subjects stored
// without one (indexed before subject keys existed): Rows gives them keys
// (Tx.SetSubjectKeys), after which the event is stored again.
type keylessError struct{ rows []SubjectKeyRow }

func (e *keylessError) Error() string {
	return fmt.Sprintf("%d subjects stored without a key", len(e.rows))
}

// resolveKeys returns the keys of the tenant's subjects with the hashes:
// from the cache, from stored (the rows the driver read of those it does
// not hold), or new. New keys, of subjects the store has no row for, come
// back in fresh, to be stored with the event. Subjects stored without a
// key are a *keylessError.
func (s *Store) resolveKeys(ctx context.Context, tenantID string, hashes [][]byte, stored []SubjectKeyRow) (keys []subjectKey, fresh []SubjectKeyRow, err error) {
	keys = make([]subjectKey, len(hashes))
	var keyless []SubjectKeyRow
	for i, h := range hashes {
		var ok bool
		if keys[i], ok = s.subjectCache.get(tenantID, h); ok {
			continue
		}
		j := slices.IndexFunc(stored, func(r SubjectKeyRow) bool { return bytes.Equal(r.Hash, h) })
		switch {
		case j >= 0 && stored[j].SealedKey != nil:
			if keys[i], err = s.openSubjectKey(ctx, tenantID, stored[j]); err != nil {
				return nil, nil, err
			}
		case j >= 0:
			// A subject stored without a key keeps its row's id: its
			// links name it already.
			row := SubjectKeyRow{Hash: h, ID: stored[j].ID}
			if _, row.SealedKey, err = s.newSubjectKey(ctx, tenantID, row); err != nil {
				return nil, nil, err
			}
			keyless = append(keyless, row)
		default:
			row := SubjectKeyRow{Hash: h, ID: newSubjectKeyID()}
			if keys[i], row.SealedKey, err = s.newSubjectKey(ctx, tenantID, row); err != nil {
				return nil, nil, err
			}
			fresh = append(fresh, row)
		}
	}
	if len(keyless) > 0 {
		return nil, nil, &keylessError{rows: keyless}
	}
	return keys, fresh, nil
}

// giveKeys stores keys for subjects stored without one, in a transaction
// of its own. Another process may have given one of them a key first
// (ECONFLICT): storing the event is tried again all the same.
func (s *Store) giveKeys(ctx context.Context, tenantID string, rows []SubjectKeyRow) error {
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.SetSubjectKeys(ctx, tenantID, rows) })
	if err != nil && sluice.ErrorCode(err) != sluice.ECONFLICT {
		return fmt.Errorf("give subjects keys: %w", err)
	}
	return nil
}

// keepSubjectKeys keeps the keys of a stored event's subjects, those it
// stored among them.
func (s *Store) keepSubjectKeys(tenantID string, se *sealedEvent) {
	for i, l := range se.links {
		if k, ok := s.subjectCache.get(tenantID, l.Hash); !ok || k.id != se.keys[i].id {
			s.subjectCache.put(tenantID, l.Hash, se.keys[i])
		}
	}
}

// forgetSubjects forgets the keys of the event's subjects.
func (s *Store) forgetSubjects(ctx context.Context, in *sluice.NewEvent) {
	hashes, err := s.subjectHashes(ctx, in.Event.TenantID, in.Subjects)
	if err != nil {
		return // sealing it again meets the error
	}
	s.subjectCache.forget(in.Event.TenantID, hashes...)
}

// newSubjectKeyID returns a random positive id for a new subject key row;
// 0 is the id of the rows of subjects indexed before subject keys.
func newSubjectKeyID() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.BigEndian.Uint64(b[:])>>1) | 1
}

// newSubjectKey makes a key for the subject of row, and returns it and the
// key sealed for its row.
func (s *Store) newSubjectKey(ctx context.Context, tenantID string, row SubjectKeyRow) (subjectKey, []byte, error) {
	raw := seal.NewKey()
	k, err := seal.KeyFromBytes(subjectKeyID, raw)
	if err != nil {
		return subjectKey{}, nil, err
	}
	sealed, err := s.keys.Seal(ctx, tenantID, raw, columnSubjectKey, subjectKeyRef(row.Hash, row.ID))
	if err != nil {
		return subjectKey{}, nil, err
	}
	return subjectKey{id: row.ID, key: k}, sealed, nil
}

// subjectKeyRef is what a sealed subject key is bound to: its subject's
// hash and its row's id.
func subjectKeyRef(hash []byte, id int64) string {
	return hex.EncodeToString(hash) + "." + strconv.FormatInt(id, 10)
}

// openSubjectKey opens a subject's stored key and keeps it.
func (s *Store) openSubjectKey(ctx context.Context, tenantID string, r SubjectKeyRow) (subjectKey, error) {
	if k, ok := s.subjectCache.get(tenantID, r.Hash); ok && k.id == r.ID {
		return k, nil
	}
	raw, err := s.open(ctx, tenantID, r.SealedKey, columnSubjectKey, subjectKeyRef(r.Hash, r.ID))
	if err != nil {
		return subjectKey{}, err
	}
	dk, err := seal.KeyFromBytes(subjectKeyID, raw)
	if err != nil {
		return subjectKey{}, err
	}
	k := subjectKey{id: r.ID, key: dk}
	s.subjectCache.put(tenantID, r.Hash, k)
	return k, nil
}

// sealForSubjects seals a payload that names subjects under a new event
// key, split into one share per subject (kept in se.parts, to be sealed
// under the subjects' keys by linkSubjects) and the tenant's share.
func (s *Store) sealForSubjects(ctx context.Context, se *sealedEvent) error {
	in := se.in
	e := &in.Event
	raw := seal.NewKey()
	ek, err := seal.KeyFromBytes(eventKeyID, raw)
	if err != nil {
		return err
	}
	n := len(se.hashes)
	shares := seal.SplitKey(raw, n)
	se.parts = shares[:n]
	// The tenant's share says how many subject shares there are, so that
	// one missing (its subject erased meanwhile) reads as erased.
	tenantShare := binary.BigEndian.AppendUint16(shares[n], uint16(n))
	if se.keyShare, err = s.keys.Seal(ctx, e.TenantID, tenantShare, columnTenantShare, e.ID); err != nil {
		return err
	}
	se.body = ek.Seal(in.Payload.Body, seal.AAD(e.TenantID, columnPayloadBody, e.ID))
	if in.Payload.Headers != nil {
		plain, err := marshalHeaders(in.Payload.Headers)
		if err != nil {
			return err
		}
		se.headers = ek.Seal(plain, seal.AAD(e.TenantID, columnPayloadHeaders, e.ID))
	}
	return nil
}

// linkSubjects resolves the keys of se's subjects (see resolveKeys) and
// links the event to them, each link carrying the subject's share of the
// event key sealed under the subject's key; none for a payload not
// stored. It runs in the event's transaction, maybe more than once: it
// sets se's links, keys and new keys afresh each time.
func (s *Store) linkSubjects(ctx context.Context, se *sealedEvent, stored []SubjectKeyRow) error {
	if len(se.hashes) == 0 {
		return nil
	}
	e := &se.in.Event
	keys, fresh, err := s.resolveKeys(ctx, e.TenantID, se.hashes, stored)
	if err != nil {
		return err
	}
	links := make([]SubjectLink, len(se.hashes))
	for i, h := range se.hashes {
		links[i] = SubjectLink{Hash: h, KeyID: keys[i].id}
		if se.parts != nil {
			links[i].Share = keys[i].key.Seal(se.parts[i], shareAAD(e.TenantID, e.ID, h))
		}
	}
	se.links, se.keys, se.newKeys = links, keys, fresh
	return nil
}

func shareAAD(tenantID, eventID string, hash []byte) []byte {
	return seal.AAD(tenantID, columnSubjectShare, eventID, hex.EncodeToString(hash))
}

// eventKey rebuilds the key of a payload sealed for its subjects from the
// tenant's share and the subjects' shares. A share missing, or a subject
// without a key, means a subject was erased: errSubjectErased.
func (s *Store) eventKey(ctx context.Context, tenantID, eventID string, keyShare []byte, shares []KeyShareRow) (*seal.DataKey, error) {
	plain, err := s.open(ctx, tenantID, keyShare, columnTenantShare, eventID)
	if err != nil {
		return nil, err
	}
	if len(plain) != seal.KeySize+2 {
		return nil, fmt.Errorf("key share of %s: %w", eventID, sluice.ErrIntegrity)
	}
	n := int(binary.BigEndian.Uint16(plain[seal.KeySize:]))
	if len(shares) != n {
		return nil, errSubjectErased
	}
	parts := make([][]byte, 0, n+1)
	for _, sh := range shares {
		if sh.SealedSubjectKey == nil {
			return nil, errSubjectErased
		}
		k, err := s.openSubjectKey(ctx, tenantID, SubjectKeyRow{Hash: sh.Hash, ID: sh.KeyID, SealedKey: sh.SealedSubjectKey})
		if err != nil {
			return nil, err
		}
		part, err := k.key.Open(sh.Share, shareAAD(tenantID, eventID, sh.Hash))
		if err != nil {
			return nil, fmt.Errorf("share of %s: %w", eventID, sluice.ErrIntegrity)
		}
		parts = append(parts, part)
	}
	raw, err := seal.JoinKey(append(parts, plain[:seal.KeySize]))
	if err != nil {
		return nil, fmt.Errorf("key of %s: %w", eventID, sluice.ErrIntegrity)
	}
	return seal.KeyFromBytes(eventKeyID, raw)
}

// openStoredPayload opens a stored payload: under the tenant's key, or
// under its event key rebuilt from shares (those of the event; see
// sharesOf).
func (s *Store) openStoredPayload(ctx context.Context, tenantID, eventID string, r *PayloadRow, shares []KeyShareRow) ([]byte, http.Header, error) {
	if r.KeyShare == nil {
		return s.openPayload(ctx, tenantID, eventID, r.Body, r.Headers)
	}
	ek, err := s.eventKey(ctx, tenantID, eventID, r.KeyShare, shares)
	if err != nil {
		return nil, nil, err
	}
	open := func(sealed []byte, column string) ([]byte, error) {
		plain, err := ek.Open(sealed, seal.AAD(tenantID, column, eventID))
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", column, eventID, sluice.ErrIntegrity)
		}
		return plain, nil
	}
	body, err := open(r.Body, columnPayloadBody)
	if err != nil || r.Headers == nil {
		return body, nil, err
	}
	plain, err := open(r.Headers, columnPayloadHeaders)
	if err != nil {
		return nil, nil, err
	}
	headers, err := unmarshalHeaders(eventID, plain)
	return body, headers, err
}

// sharesOf reads the key shares of the events, by event id.
func (s *Store) sharesOf(ctx context.Context, eventIDs []string) (map[string][]KeyShareRow, error) {
	if len(eventIDs) == 0 {
		return nil, nil
	}
	rows, err := s.read.KeyShares(ctx, eventIDs)
	if err != nil {
		return nil, fmt.Errorf("read key shares: %w", err)
	}
	out := make(map[string][]KeyShareRow, len(eventIDs))
	for _, r := range rows {
		out[r.EventID] = append(out[r.EventID], r)
	}
	return out, nil
}
