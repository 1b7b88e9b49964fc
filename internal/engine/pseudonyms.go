package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/pseudonym"
	"github.com/sluicehq/sluice/internal/subject"
)

// Pseudonymous tokens. A destination with pseudonymize paths is sent, for
// each value at them, a token minted from the value's subject under a key
// of the destination's own (internal/pseudonym). The store mints the
// tokens as it hands out a claim (Claim.Pseudonyms), and the first time a
// token is handed out it records what resolves it: the subject, sealed
// under the subject's own key (the key an erasure deletes), in a row that
// refers to that key and goes with it. So erasing the subject makes its
// tokens unresolvable at once, and a copy of the row left anywhere the key
// is not stays sealed.

// columnPseudonymSubject is the column a token's subject is sealed for.
const columnPseudonymSubject = "pseudonyms.sealed_subject"

// PseudonymRow is a token a destination was sent, as stored: the keyed
// hash of its subject and the subject's key row, and the subject sealed
// under that key.
type PseudonymRow struct {
	DestinationID, Token string
	Hash                 []byte
	KeyID                int64
	SealedSubject        []byte
	// SealedSubjectKey is the subject's key as stored, when read.
	SealedSubjectKey []byte
}

// pseudonymRecordTTL is how long a process takes a token it recorded to be
// recorded still. An erasure in another process deletes the record; a
// token of the same subject handed out after that is recorded again once
// this has passed, so that the subject's new data resolves.
const pseudonymRecordTTL = 10 * time.Minute

// maxRecordedPseudonyms bounds the cache of recorded tokens.
const maxRecordedPseudonyms = 100_000

// pseudonymCache keeps the tokens this process recorded, so that handing
// one out again writes nothing.
type pseudonymCache struct {
	mu       sync.Mutex
	recorded map[pseudonymCacheKey]time.Time // until when
}

type pseudonymCacheKey struct{ tenantID, destinationID, token string }

func (c *pseudonymCache) has(k pseudonymCacheKey, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.recorded[k]
	return ok && now.Before(until)
}

func (c *pseudonymCache) put(ks []pseudonymCacheKey, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recorded == nil || len(c.recorded)+len(ks) > maxRecordedPseudonyms {
		c.recorded = make(map[pseudonymCacheKey]time.Time)
	}
	for _, k := range ks {
		c.recorded[k] = until
	}
}

// forget forgets every token recorded: after an erasure, whose subject's
// records are gone, or a tenant's deletion.
func (c *pseudonymCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorded = nil
}

// newPseudonym is a token handed out that this process has not recorded.
type newPseudonym struct {
	destinationID, token string
	subject              subject.Subject
}

// pseudonymizeClaims mints the tokens of the values at the claims'
// destinations' pseudonymize paths into their Pseudonyms, and records
// those not recorded yet. A value that names no valid subject (over
// subject.MaxValueLen) gets no token, nor does a payload that is not a
// JSON object: deliver.Body sends neither.
func (s *Store) pseudonymizeClaims(ctx context.Context, claims []*sluice.Claim) error {
	pending := make(map[string][]newPseudonym) // by tenant
	now := s.clock()
	for _, c := range claims {
		d := &c.Destination
		if len(d.Pseudonymize) == 0 || c.Body == nil {
			continue
		}
		found, err := pseudonym.Values(c.Body, d.Pseudonymize)
		if err != nil || len(found) == 0 {
			continue
		}
		tenantKey, err := s.keys.SubjectKey(ctx, d.TenantID)
		if err != nil {
			return err
		}
		key := pseudonym.DestinationKey(tenantKey, d.ID)
		c.Pseudonyms = make(map[string]string, len(found))
		for _, f := range found {
			subj, err := pseudonym.SubjectOf(f.Path, f.Value)
			if err != nil {
				continue
			}
			token := pseudonym.Token(key, subj)
			c.Pseudonyms[pseudonym.Key(f.Path, f.Value)] = token
			if !s.pseudonyms.has(pseudonymCacheKey{d.TenantID, d.ID, token}, now) {
				pending[d.TenantID] = append(pending[d.TenantID], newPseudonym{d.ID, token, subj})
			}
		}
	}
	for tenantID, ps := range pending {
		if err := s.recordPseudonyms(ctx, tenantID, ps); err != nil {
			return fmt.Errorf("record pseudonyms: %w", err)
		}
	}
	return nil
}

// recordPseudonyms stores what resolves the tokens: each subject sealed
// under the subject's key, which it is given when it has none.
func (s *Store) recordPseudonyms(ctx context.Context, tenantID string, ps []newPseudonym) error {
	tenantKey, err := s.keys.SubjectKey(ctx, tenantID)
	if err != nil {
		return err
	}
	var hashes [][]byte
	index := make([]int, len(ps)) // ps[i]'s hash in hashes
	seen := make(map[string]int)
	for i, p := range ps {
		h := subject.Hash(tenantKey, p.subject)
		j, ok := seen[string(h)]
		if !ok {
			j = len(hashes)
			seen[string(h)] = j
			hashes = append(hashes, h)
		}
		index[i] = j
	}
	var keys []subjectKey
	for try := 1; ; try++ {
		err = s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
			stored, err := tx.SubjectKeys(ctx, tenantID, s.missingKeys(tenantID, hashes))
			if err != nil {
				return fmt.Errorf("read subject keys: %w", err)
			}
			var fresh []SubjectKeyRow
			if keys, fresh, err = s.resolveKeys(ctx, tenantID, hashes, stored); err != nil {
				return err
			}
			now := s.now()
			if err := tx.InsertSubjectKeys(ctx, tenantID, fresh, now); err != nil {
				return err
			}
			rows := make([]PseudonymRow, len(ps))
			for i, p := range ps {
				k := keys[index[i]]
				plain, err := json.Marshal(sealedSubject{Type: p.subject.Type, Value: p.subject.Value})
				if err != nil {
					return err
				}
				rows[i] = PseudonymRow{DestinationID: p.destinationID, Token: p.token, Hash: hashes[index[i]], KeyID: k.id,
					SealedSubject: k.key.Seal(plain, pseudonymAAD(tenantID, p.destinationID, p.token))}
			}
			return tx.InsertPseudonyms(ctx, tenantID, rows, now)
		})
		if keyless, ok := errors.AsType[*keylessError](err); ok && try < maxSealTries {
			if err = s.giveKeys(ctx, tenantID, keyless.rows); err != nil {
				return err
			}
			continue
		}
		if sluice.ErrorCode(err) == sluice.ENOTFOUND && try < maxSealTries {
			// A key this process kept was erased by another: read them
			// again.
			s.subjectCache.forget(tenantID, hashes...)
			continue
		}
		break
	}
	if err != nil {
		return err
	}
	for i, h := range hashes {
		s.subjectCache.put(tenantID, h, keys[i])
	}
	recorded := make([]pseudonymCacheKey, len(ps))
	for i, p := range ps {
		recorded[i] = pseudonymCacheKey{tenantID, p.destinationID, p.token}
	}
	s.pseudonyms.put(recorded, s.clock().Add(pseudonymRecordTTL))
	return nil
}

// sealedSubject is what a token's record seals.
type sealedSubject struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func pseudonymAAD(tenantID, destinationID, token string) []byte {
	return []byte(tenantID + "\x00" + columnPseudonymSubject + "\x00" + destinationID + "\x00" + token)
}

// pseudonymizeBorn mints the tokens of deliveries created claimed. Their
// event is stored whatever happens here: when the tokens cannot be
// recorded, the claims that need them are given back, due now, for a
// dispatcher to claim again, and the rest are returned.
func (s *Store) pseudonymizeBorn(ctx context.Context, created *sluice.EventCreated) {
	if len(created.Claims) == 0 {
		return
	}
	err := s.pseudonymizeClaims(ctx, created.Claims)
	if err == nil {
		return
	}
	s.logger.WarnContext(ctx, "pseudonyms not recorded; the deliveries are claimed again",
		slog.String("event_id", created.Event.ID), slog.Any("error", err))
	var kept []*sluice.Claim
	var back []string
	for _, c := range created.Claims {
		if len(c.Destination.Pseudonymize) > 0 {
			back = append(back, c.Delivery.ID)
			continue
		}
		kept = append(kept, c)
	}
	created.Claims = kept
	if err := s.ReturnClaims(ctx, back); err != nil {
		s.logger.WarnContext(ctx, "claims not given back; they are claimed again when their lease ends",
			slog.String("event_id", created.Event.ID), slog.Any("error", err))
		return
	}
	created.Unclaimed = true
}

// ResolvePseudonym returns the subject behind a token the destination was
// sent, and records pseudonym.resolve, naming the destination, whether or
// not the token resolved. ENOTFOUND for a token the destination was never
// sent, or whose subject was erased since.
func (s *Store) ResolvePseudonym(ctx context.Context, tenantID, destinationID, token string) (*sluice.Subject, error) {
	subj, err := s.resolvePseudonym(ctx, tenantID, destinationID, token)
	if err != nil && sluice.ErrorCode(err) != sluice.ENOTFOUND {
		return nil, err
	}
	auditErr := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		return s.audit(ctx, tx, tenantID, "pseudonym.resolve", destinationID)
	})
	if auditErr != nil {
		return nil, auditErr
	}
	return subj, err
}

var errNoPseudonym = sluice.Errorf(sluice.ENOTFOUND, "no such token was sent to this destination, or its subject was erased")

func (s *Store) resolvePseudonym(ctx context.Context, tenantID, destinationID, token string) (*sluice.Subject, error) {
	if !pseudonym.Valid(token) {
		return nil, errNoPseudonym
	}
	r, err := s.read.Pseudonym(ctx, tenantID, destinationID, token)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND || err == nil && r.SealedSubjectKey == nil {
		return nil, errNoPseudonym
	}
	if err != nil {
		return nil, fmt.Errorf("read pseudonym: %w", err)
	}
	k, err := s.openSubjectKey(ctx, tenantID, SubjectKeyRow{Hash: r.Hash, ID: r.KeyID, SealedKey: r.SealedSubjectKey})
	if err != nil {
		return nil, err
	}
	plain, err := k.key.Open(r.SealedSubject, pseudonymAAD(tenantID, destinationID, token))
	if err != nil {
		return nil, fmt.Errorf("pseudonym of %s: %w", destinationID, sluice.ErrIntegrity)
	}
	var out sealedSubject
	if err := json.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("pseudonym of %s: %w", destinationID, sluice.ErrIntegrity)
	}
	return &sluice.Subject{Type: out.Type, Value: out.Value}, nil
}
