package engine

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/http"
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
	mu   sync.Mutex
	keys map[string]subjectKey
}

func subjectCacheKey(tenantID string, hash []byte) string { return tenantID + "\x00" + string(hash) }

func (c *subjectKeyCache) get(tenantID string, hash []byte) (subjectKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.keys[subjectCacheKey(tenantID, hash)]
	return k, ok
}

func (c *subjectKeyCache) put(tenantID string, hash []byte, k subjectKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxCachedSubjectKey {
		c.keys = make(map[string]subjectKey)
	}
	c.keys[subjectCacheKey(tenantID, hash)] = k
}

func (c *subjectKeyCache) forget(tenantID string, hashes ...[]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range hashes {
		delete(c.keys, subjectCacheKey(tenantID, h))
	}
}

// subjectKeys returns the keys of the tenant's subjects with the hashes:
// from the cache, from the store, or new. New keys of subjects the store
// has no row for come back in fresh, to be stored with the event that
// uses them; a subject stored without a key (indexed before subject keys
// existed) gets one at once, in a transaction of its own.
func (s *Store) subjectKeys(ctx context.Context, tenantID string, hashes [][]byte) (keys []subjectKey, fresh []SubjectKeyRow, err error) {
	keys = make([]subjectKey, len(hashes))
	var missing [][]byte
	for i, h := range hashes {
		var ok bool
		if keys[i], ok = s.subjectCache.get(tenantID, h); !ok {
			missing = append(missing, h)
		}
	}
	if len(missing) == 0 {
		return keys, nil, nil
	}
	stored, err := s.read.SubjectKeys(ctx, tenantID, missing)
	if err != nil {
		return nil, nil, fmt.Errorf("read subject keys: %w", err)
	}
	byHash := make(map[string]SubjectKeyRow, len(stored))
	for _, r := range stored {
		byHash[string(r.Hash)] = r
	}
	var keyless []SubjectKeyRow
	for i, h := range hashes {
		if keys[i].key != nil {
			continue
		}
		r, found := byHash[string(h)]
		if found && r.SealedKey != nil {
			if keys[i], err = s.openSubjectKey(ctx, tenantID, r); err != nil {
				return nil, nil, err
			}
			continue
		}
		// A subject stored without a key keeps its row's id: its links
		// name it already.
		row := SubjectKeyRow{Hash: h, ID: r.ID}
		if !found {
			row.ID = newSubjectKeyID()
		}
		if keys[i], row.SealedKey, err = s.newSubjectKey(ctx, tenantID, row); err != nil {
			return nil, nil, err
		}
		if found {
			keyless = append(keyless, row)
		} else {
			fresh = append(fresh, row)
		}
	}
	if len(keyless) > 0 {
		err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return tx.SetSubjectKeys(ctx, tenantID, keyless) })
		if err != nil {
			// Another process gave one of them a key first (ECONFLICT):
			// storing the event fails on it, and is tried again.
			return nil, nil, fmt.Errorf("give subjects keys: %w", err)
		}
	}
	return keys, fresh, nil
}

// keepSubjectKeys keeps the keys of a stored event's subjects, those it
// stored among them.
func (s *Store) keepSubjectKeys(tenantID string, se *sealedEvent) {
	for i, l := range se.links {
		s.subjectCache.put(tenantID, l.Hash, se.keys[i])
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

// sealForSubjects seals a payload that names subjects (their distinct
// hashes, with their keys) under a new event key, and returns the links
// that carry the subjects' shares of it and the tenant's share.
func (s *Store) sealForSubjects(ctx context.Context, se *sealedEvent, hashes [][]byte, keys []subjectKey) error {
	in := se.in
	e := &in.Event
	raw := seal.NewKey()
	ek, err := seal.KeyFromBytes(eventKeyID, raw)
	if err != nil {
		return err
	}
	shares := seal.SplitKey(raw, len(hashes))
	se.links = make([]SubjectLink, len(hashes))
	for i, h := range hashes {
		se.links[i] = SubjectLink{Hash: h, KeyID: keys[i].id, Share: keys[i].key.Seal(shares[i], shareAAD(e.TenantID, e.ID, h))}
	}
	// The tenant's share says how many subject shares there are, so that
	// one missing (its subject erased meanwhile) reads as erased.
	tenantShare := binary.BigEndian.AppendUint16(shares[len(hashes)], uint16(len(hashes)))
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

// unsharedLinks links an event whose payload is not stored to its
// subjects: no share, since there is nothing to open.
func unsharedLinks(hashes [][]byte, keys []subjectKey) []SubjectLink {
	links := make([]SubjectLink, len(hashes))
	for i, h := range hashes {
		links[i] = SubjectLink{Hash: h, KeyID: keys[i].id}
	}
	return links
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
