package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Storage you can minimise: how long each kind of data is kept, by
// purpose (sluice.Retention), as the server sets it and each tenant
// overrides it, and how payloads are written down (sluice.PayloadStorage).

// policyLifetime is how long a tenant's retention and restricted data
// policy, once read, are used before they are read again: their changes
// through another process take effect within it.
const policyLifetime = 10 * time.Second

// policyCache keeps tenants' retention overrides and restricted data
// policies, by tenant.
type policyCache struct {
	mu sync.Mutex
	m  map[string]cachedPolicy
}

type cachedPolicy struct {
	r          sluice.Retention
	restricted sluice.RestrictedData
	read       time.Time
}

// retentionOf returns the tenant's retention: its overrides over the
// server's.
func (s *Store) retentionOf(ctx context.Context, tenantID string) (sluice.Retention, error) {
	p, err := s.tenantPolicy(ctx, tenantID)
	if err != nil {
		return sluice.Retention{}, err
	}
	return p.r.Or(s.defaults), nil
}

// tenantPolicy returns the tenant's policies as read within
// policyLifetime.
func (s *Store) tenantPolicy(ctx context.Context, tenantID string) (cachedPolicy, error) {
	now := time.Now()
	s.policies.mu.Lock()
	c, ok := s.policies.m[tenantID]
	s.policies.mu.Unlock()
	if ok && now.Sub(c.read) < policyLifetime {
		return c, nil
	}
	t, err := s.read.Tenant(ctx, tenantID)
	if err != nil {
		return cachedPolicy{}, fmt.Errorf("read tenant's policies: %w", err)
	}
	c = cachedPolicy{r: t.Retention, restricted: t.Restricted, read: now}
	s.policies.mu.Lock()
	if s.policies.m == nil || len(s.policies.m) > 100_000 {
		s.policies.m = make(map[string]cachedPolicy)
	}
	s.policies.m[tenantID] = c
	s.policies.mu.Unlock()
	return c, nil
}

// forgetPolicy drops a tenant's cached retention.
func (s *Store) forgetPolicy(tenantID string) {
	s.policies.mu.Lock()
	defer s.policies.mu.Unlock()
	delete(s.policies.m, tenantID)
}

// storagePlan is how a new event's payload is kept: its storage, and its
// expiries as PayloadRow has them.
type storagePlan struct {
	storage                                     sluice.PayloadStorage
	expiresAt, deliveredUntil, undeliveredUntil time.Time
	// volatileUntil is when a payload stored nowhere is dropped from memory.
	volatileUntil time.Time
}

// planStorage decides how the event's payload is kept: the source's
// overrides (in.Storage, in.Retention) over the tenant's retention. A
// Payload.ExpiresAt set by the caller is its only expiry.
func (s *Store) planStorage(ctx context.Context, in *sluice.NewEvent) (storagePlan, error) {
	if in.Storage == sluice.StorageRetain && !in.Payload.ExpiresAt.IsZero() {
		// A notice: nothing of its tenant's retention applies.
		return storagePlan{storage: sluice.StorageRetain, expiresAt: in.Payload.ExpiresAt}, nil
	}
	tr, err := s.retentionOf(ctx, in.Event.TenantID)
	if err != nil {
		return storagePlan{}, err
	}
	r := sluice.Retention{PayloadStorage: in.Storage, Delivered: in.Retention}.Or(tr)
	received := in.Event.ReceivedAt
	p := storagePlan{storage: r.PayloadStorage, volatileUntil: received.Add(r.Undelivered)}
	if !in.Payload.ExpiresAt.IsZero() {
		p.expiresAt = in.Payload.ExpiresAt
		return p, nil
	}
	p.deliveredUntil, p.undeliveredUntil = received.Add(r.Delivered), received.Add(r.Undelivered)
	p.expiresAt = p.deliveredUntil
	if p.undeliveredUntil.Before(p.expiresAt) {
		p.expiresAt = p.undeliveredUntil
	}
	return p, nil
}

// maxVolatileBytes bounds the payloads of storage "none" kept in memory
// for their retries; past it the oldest go first, and their deliveries
// then end as payloads gone.
const maxVolatileBytes = 64 << 20

// volatilePayloads are the payloads of storage "none" received by this
// process, kept in memory until their events are settled, their
// undelivered window ends, or room runs out: their deliveries' retries are
// made from here. They do not survive the process.
type volatilePayloads struct {
	mu    sync.Mutex
	m     map[string]*volatilePayload
	order []string // event ids, oldest first; may hold ids already gone
	bytes int
}

type volatilePayload struct {
	body        []byte
	contentType string
	hops        int
	until       time.Time
}

func (v *volatilePayloads) put(eventID string, p *sluice.Payload, until time.Time) {
	body := p.Body
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string]*volatilePayload)
	}
	v.m[eventID] = &volatilePayload{body: body, contentType: p.ContentType, hops: p.Hops, until: until}
	v.order = append(v.order, eventID)
	v.bytes += len(body)
	for v.bytes > maxVolatileBytes && len(v.order) > 0 {
		v.drop(v.order[0])
		v.order = v.order[1:]
	}
}

// get returns the payload of the event while it is kept, at now.
func (v *volatilePayloads) get(eventID string, now time.Time) (*volatilePayload, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.m[eventID]
	if ok && !now.Before(p.until) {
		v.drop(eventID)
		return nil, false
	}
	return p, ok
}

// has reports whether the event's payload is kept at now.
func (v *volatilePayloads) has(eventID string, now time.Time) bool {
	_, ok := v.get(eventID, now)
	return ok
}

// forget drops the events' payloads.
func (v *volatilePayloads) forget(eventIDs ...string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range eventIDs {
		v.drop(id)
	}
	if len(v.m) == 0 {
		v.order = v.order[:0]
	}
}

func (v *volatilePayloads) drop(eventID string) {
	if p, ok := v.m[eventID]; ok {
		v.bytes -= len(p.body)
		delete(v.m, eventID)
	}
}

// discardDelivered deletes, inside tx, the payloads kept until delivered of
// the attempts' events that are now settled, and returns those events.
func (s *Store) discardDelivered(ctx context.Context, tx Tx, rs []*sluice.AttemptResult) ([]string, error) {
	var ids []string
	for _, r := range rs {
		if r.Status == sluice.DeliverySucceeded && r.Storage != "" && r.Storage != sluice.StorageRetain {
			ids = append(ids, r.Attempt.EventID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	settled, err := tx.DiscardDelivered(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("discard delivered payloads: %w", err)
	}
	return settled, nil
}

// PurgeExpiredPayloads deletes up to limit payloads whose expiry, as their
// events stand, has come at now (their events become payload_state
// "expired" and their pending deliveries "expired"), and returns how many
// it deleted. A payload whose event is settled is kept for the delivered
// window, one whose event is not for the undelivered window: one due by
// the other is given its own expiry instead. Purges running at once in
// several processes take different payloads.
func (s *Store) PurgeExpiredPayloads(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		n = 0
		due, err := tx.DuePayloads(ctx, now, limit)
		if err != nil {
			return fmt.Errorf("find expired payloads: %w", err)
		}
		var ended []string
		var later []PayloadExpiry
		for _, d := range due {
			if d.Until.After(now) {
				later = append(later, PayloadExpiry{EventID: d.EventID, ExpiresAt: d.Until})
			} else {
				ended = append(ended, d.EventID)
			}
		}
		if err := tx.ExtendPayloads(ctx, later); err != nil {
			return err
		}
		n, err = s.endPayloads(ctx, tx, ended, sluice.PayloadExpired, sluice.DeliveryExpired)
		return err
	})
	if n > 0 {
		s.unscrubbed.Store(true)
	}
	return n, err
}

// PurgeMetadata deletes up to limit events whose tenant's metadata
// retention has passed at now; their payloads, deliveries, attempts and
// subject links go with them. It returns how many events it deleted.
func (s *Store) PurgeMetadata(ctx context.Context, now time.Time, limit int) (int, error) {
	return s.purge(ctx, "metadata", limit, func(ctx context.Context, tx Tx) (int, error) {
		return tx.PurgeEvents(ctx, now, s.defaults.Metadata, limit)
	})
}

// PurgeAudit deletes up to limit each of the audit entries, erasure
// records and observations whose tenant's audit retention has passed at
// now, and returns how many rows it deleted. The observations of an event
// type go together, when its first sighting is that old: the type's next
// event is then its first again, and announces no drift.
func (s *Store) PurgeAudit(ctx context.Context, now time.Time, limit int) (int, error) {
	n, err := s.purge(ctx, "audit entries", limit, func(ctx context.Context, tx Tx) (int, error) {
		return tx.PurgeAudit(ctx, now, s.defaults.Audit, limit)
	})
	if n > 0 {
		// Observations the cache holds may be gone: the store is asked again.
		s.shapes.reset()
	}
	return n, err
}

// purge runs a purge of up to limit rows in a transaction of its own, and
// leaves what it deleted to the next Scrub.
func (s *Store) purge(ctx context.Context, what string, limit int, fn func(ctx context.Context, tx Tx) (int, error)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n := 0
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		if n, err = fn(ctx, tx); err != nil {
			return fmt.Errorf("purge %s: %w", what, err)
		}
		return nil
	})
	if n > 0 {
		s.unscrubbed.Store(true)
	}
	return n, err
}

// Tenant returns a tenant, with its retention overrides.
func (s *Store) Tenant(ctx context.Context, id string) (*sluice.Tenant, error) {
	return s.read.Tenant(ctx, id)
}

// UpdateTenant changes a tenant's name and retention overrides.
func (s *Store) UpdateTenant(ctx context.Context, t *sluice.Tenant) error {
	if err := t.Retention.Validate(); err != nil {
		return err
	}
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		old, err := tx.Tenant(ctx, t.ID)
		if err != nil {
			return err
		}
		if err := tx.UpdateTenant(ctx, t); err != nil {
			return err
		}
		return s.auditDiff(ctx, tx, t.ID, "tenant.update", t.ID, tenantFields(old), tenantFields(t))
	})
	s.forgetPolicy(t.ID)
	return err
}
