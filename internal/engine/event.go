package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// CreateEvent stores an event, its payload and one pending delivery per
// matching destination in one transaction, each due after firstDelay,
// those it may claimed for in.Claim. If the dedup key was seen before in
// the tenant it stores nothing and returns the first event as a duplicate.
//
// It keeps what the event shows of its shape, and afterwards publishes
// sluice.anomaly.schema_drift for field paths new to a source's event type,
// sluice.anomaly.restricted_field for new ones its tenant restricts as
// personal data, and sluice.anomaly.burst when the type arrives far above its usual rate.
func (s *Store) CreateEvent(ctx context.Context, in *sluice.NewEvent, firstDelay time.Duration) (*sluice.EventCreated, error) {
	var (
		se   *sealedEvent
		plan *eventPlan
		ins  *EventInserted
		err  error
	)
	for try := 1; ; try++ {
		se, err = s.sealEvent(ctx, in, true)
		if err == nil {
			missing := s.missingKeys(in.Event.TenantID, se.hashes)
			ins, err = s.driver.CreateEvent(ctx, in.Event.TenantID, missing,
				func(routes []*DestinationRow, stored []SubjectKeyRow) (*EventRows, error) {
					if err := s.linkSubjects(ctx, se, stored); err != nil {
						return nil, err
					}
					p, err := s.planEvent(ctx, se, routes, firstDelay)
					if err != nil {
						return nil, err
					}
					plan = p
					return p.rows, nil
				})
		}
		if keyless, ok := errors.AsType[*keylessError](err); ok && try < maxSealTries {
			if err = s.giveKeys(ctx, in.Event.TenantID, keyless.rows); err != nil {
				break
			}
			continue
		}
		if !subjectKeyChanged(in, err) || try == maxSealTries {
			break
		}
		// Another transaction erased one of its subjects, whose key this
		// store kept: link it again with the keys stored now.
		s.subjectCache.forget(in.Event.TenantID, se.hashes...)
	}
	if err != nil {
		return nil, err
	}
	s.keepSubjectKeys(in.Event.TenantID, se)
	if ins.Inserted && se.storage.storage == sluice.StorageNone && len(plan.rows.Deliveries) > 0 {
		s.volatile.put(in.Event.ID, &in.Payload, se.storage.volatileUntil)
	}
	if !ins.Inserted {
		return s.duplicateOf(ctx, se)
	}
	e := &plan.rows.Event
	created := &sluice.EventCreated{Event: e, Claims: plan.claims, Unclaimed: plan.unclaimed, Storage: se.storage.storage}
	s.pseudonymizeBorn(ctx, created)
	s.shapes.stored(e.TenantID, se.shapes)
	if drift := driftOf(se.shapes, ins.NewObservations); len(drift) > 0 {
		created.Unclaimed = s.publishAnomaly(ctx, e.TenantID, sluice.AnomalyNotice{SourceID: e.SourceID, EventType: e.Type,
			Kind: sluice.AnomalySchemaDrift, Detail: driftDetail(drift)}) || created.Unclaimed
	}
	if paths := restrictedDrift(se.shapes, ins.NewObservations, se.restricted, se.located); len(paths) > 0 {
		created.Unclaimed = s.publishAnomaly(ctx, e.TenantID, sluice.AnomalyNotice{SourceID: e.SourceID, EventType: e.Type,
			Kind: sluice.AnomalyRestrictedField, Detail: restrictedDetail(paths)}) || created.Unclaimed
	}
	if burst, detail := s.anomalies.Event(e.TenantID, e.SourceID, e.Type, s.now()); burst {
		created.Unclaimed = s.publishAnomaly(ctx, e.TenantID, sluice.AnomalyNotice{SourceID: e.SourceID, EventType: e.Type,
			Kind: sluice.AnomalyBurst, Detail: detail}) || created.Unclaimed
	}
	return created, nil
}

// maxSealTries bounds how often an event is stored again because the keys
// of its subjects changed while it was.
const maxSealTries = 3

// subjectKeyChanged reports whether storing the event failed because the
// key of one of its subjects was erased by another transaction: its link
// names a key row that is gone (ENOTFOUND).
func subjectKeyChanged(in *sluice.NewEvent, err error) bool {
	return len(in.Subjects) > 0 && sluice.ErrorCode(err) == sluice.ENOTFOUND
}

// duplicateOf returns the event holding the dedup key of se, whose insert
// wrote nothing. Only a taken dedup key lets the insert do nothing;
// without one, or when the event holding the key is gone since, it is an
// error.
func (s *Store) duplicateOf(ctx context.Context, se *sealedEvent) (*sluice.EventCreated, error) {
	if se.dedupDigest == "" {
		return nil, errors.New("insert event: no row written")
	}
	first, err := s.read.EventByDedupKey(ctx, se.in.Event.TenantID, se.dedupDigest)
	if sluice.ErrorCode(err) == sluice.ENOTFOUND {
		return nil, errors.New("find duplicate: the conflicting event is gone")
	}
	if err != nil {
		return nil, fmt.Errorf("find duplicate: %w", err)
	}
	return &sluice.EventCreated{Event: first, Duplicate: true}, nil
}

// sealedEvent is a new event made ready for its rows before the
// transaction, so that sealing and hashing hold no writer: its payload
// sealed, under the tenant's key or, when it names subjects, under an
// event key shared among them (see subjectkeys.go); its subjects and dedup
// key hashed; and the observations of its shape the store may not have.
type sealedEvent struct {
	in            *sluice.NewEvent
	body, headers []byte
	keyShare      []byte          // the tenant's share of the event key; nil without subjects
	hashes        [][]byte        // the distinct subjects' keyed hashes
	parts         [][]byte        // the subjects' shares of the event key, as hashes; nil when not stored
	links         []SubjectLink   // one per subject, made in the transaction (linkSubjects)
	keys          []subjectKey    // the subjects' keys, as links
	newKeys       []SubjectKeyRow // subjects' keys to store with the event
	dedupDigest   string
	shapes        []sluice.Observation
	storage       storagePlan
	// located is where the payload carries its subjects, restricted the
	// tenant's restricted data policy (restricted.go).
	located    []sluice.SubjectPath
	restricted sluice.RestrictedData
}

// sealEvent prepares in for its rows; with observe, its shape is observed.
func (s *Store) sealEvent(ctx context.Context, in *sluice.NewEvent, observe bool) (*sealedEvent, error) {
	e := &in.Event
	se := &sealedEvent{in: in}
	var err error
	if se.storage, err = s.planStorage(ctx, in); err != nil {
		return nil, err
	}
	if se.hashes, err = s.subjectHashes(ctx, e.TenantID, in.Subjects); err != nil {
		return nil, err
	}
	switch {
	case se.storage.storage == sluice.StorageNone:
		// Nothing is written: the links alone, made in the transaction.
	case len(se.hashes) > 0:
		if err := s.sealForSubjects(ctx, se); err != nil {
			return nil, err
		}
	default:
		if se.body, se.headers, err = s.sealPayload(ctx, e.TenantID, e.ID, &in.Payload); err != nil {
			return nil, err
		}
	}
	if in.DedupKey != "" {
		if se.dedupDigest, err = s.dedupDigest(ctx, e.TenantID, in.DedupKey); err != nil {
			return nil, err
		}
	}
	if observe {
		se.shapes = s.shapes.unknown(e.TenantID, observationsOf(in))
	}
	se.located = subjectLocations(in)
	if se.restricted, err = s.restrictedOf(ctx, e.TenantID); err != nil {
		return nil, err
	}
	return se, nil
}

// eventPlan is what storing an event writes, given its routes.
type eventPlan struct {
	rows *EventRows
	// claims are the deliveries created claimed; unclaimed says whether
	// deliveries to enabled destinations were created for a dispatcher to
	// claim.
	claims    []*sluice.Claim
	unclaimed bool
}

// planEvent routes an event: one pending delivery per destination it
// matches, due after firstDelay, claimed at once for se.in.Claim when
// claimedAtBirth allows. The event is pending with deliveries and
// unrouted without.
func (s *Store) planEvent(ctx context.Context, se *sealedEvent, routes []*DestinationRow, firstDelay time.Duration) (*eventPlan, error) {
	in := se.in
	now := s.now()
	sp := &se.storage
	rows := &EventRows{Event: in.Event, DedupDigest: se.dedupDigest, ContentType: in.Payload.ContentType,
		Hops: in.Payload.Hops, Body: se.body, Headers: se.headers, KeyShare: se.keyShare, ExpiresAt: sp.expiresAt,
		DeliveredUntil: sp.deliveredUntil, UndeliveredUntil: sp.undeliveredUntil,
		UntilDelivered: sp.storage == sluice.StorageUntilDelivered,
		Subjects:       se.links, NewSubjectKeys: se.newKeys, Observations: se.shapes, SubjectPaths: se.located}
	plan := &eventPlan{rows: rows}
	e := &rows.Event
	var taken map[string]int // claimed at birth, by destination
	for _, d := range routes {
		if !routed(in, d, now) {
			continue
		}
		dr := &DeliveryRow{Delivery: sluice.Delivery{ID: sluice.NewID(sluice.PrefixDelivery), TenantID: e.TenantID,
			EventID: e.ID, DestinationID: d.ID, Status: sluice.DeliveryPending, NextAttemptAt: now.Add(firstDelay),
			CreatedAt: now, UpdatedAt: now}}
		rows.Deliveries = append(rows.Deliveries, dr)
		if !claimedAtBirth(in.Claim, d, firstDelay, taken) {
			plan.unclaimed = plan.unclaimed || d.Enabled
			continue
		}
		c := &sluice.Claim{EventType: e.Type, ReceivedAt: e.ReceivedAt, Body: in.Payload.Body, ContentType: in.Payload.ContentType,
			Hops: in.Payload.Hops, Storage: sp.storage, Restricted: se.restricted, SubjectPaths: se.located}
		if err := s.openDestinationInto(ctx, d, &c.Destination); err != nil {
			return nil, err
		}
		lease := in.Claim.Now.Add(in.Claim.Lease)
		dr.NextAttemptAt, dr.LeaseUntil = lease, lease
		c.Delivery = dr.Delivery
		if taken == nil {
			taken = make(map[string]int)
		}
		taken[d.ID]++
		plan.claims = append(plan.claims, c)
	}
	// A new event's deliveries are all pending. A payload kept until
	// delivered is not written when there is nothing to deliver.
	e.Status, e.PayloadState = sluice.EventUnrouted, sluice.PayloadRetained
	if len(rows.Deliveries) > 0 {
		e.Status = sluice.EventPending
	} else if sp.storage == sluice.StorageUntilDelivered {
		rows.Body, rows.Headers, rows.KeyShare = nil, nil, nil
	}
	if rows.Body == nil {
		e.PayloadState = sluice.PayloadNotStored
		for i := range rows.Subjects {
			rows.Subjects[i].Share = nil
		}
	}
	rows.Announce = plan.unclaimed
	return plan, nil
}

// routed reports whether the new event in has a delivery to d at now: d
// is the one destination it is sent To, or else d Receives it and is not
// a listen destination that has lapsed.
func routed(in *sluice.NewEvent, d *DestinationRow, now time.Time) bool {
	if in.To != "" {
		return d.ID == in.To
	}
	return d.Receives(&in.Event) && !d.Lapsed(now)
}

// claimedAtBirth reports whether a new delivery to d, due after
// firstDelay, may be created claimed under r, given how many r already
// took by destination: only one due at once, to an enabled destination
// that the dispatcher delivers to (not a listen destination) with no rate
// limit and a closed circuit (those gates are ClaimDue's to pass), within
// r's Limit, PerDestination and Room, PerTenant and TenantRoom. An event's
// deliveries are all its tenant's, so what r took in all is what it took
// of the tenant.
func claimedAtBirth(r *sluice.ClaimRequest, d *DestinationRow, firstDelay time.Duration, taken map[string]int) bool {
	if r == nil || firstDelay > 0 || !d.Enabled || d.Listening() || d.RateLimitPerSecond > 0 || !d.PausedUntil.IsZero() {
		return false
	}
	total := 0
	for _, n := range taken {
		total += n
	}
	return total < r.Limit && total < roomOf(r.TenantRoom, d.TenantID, r.PerTenant, r.Limit) &&
		taken[d.ID] < roomOf(r.Room, d.ID, r.PerDestination, r.Limit)
}

// roomOf returns id's room in rooms, else def, else limit when def is 0.
func roomOf(rooms map[string]int, id string, def, limit int) int {
	if room, ok := rooms[id]; ok {
		return room
	}
	if def > 0 {
		return def
	}
	return limit
}

// insertEvent stores a sealed event inside tx, routed with the tenant's
// routes, due after firstDelay and claimed by no one, and reports whether
// it made deliveries due that a dispatcher must claim.
func (s *Store) insertEvent(ctx context.Context, tx Tx, se *sealedEvent, firstDelay time.Duration) (bool, error) {
	tenantID := se.in.Event.TenantID
	routes, err := tx.Routes(ctx, tenantID)
	if err != nil {
		return false, err
	}
	var stored []SubjectKeyRow
	if missing := s.missingKeys(tenantID, se.hashes); len(missing) > 0 {
		if stored, err = tx.SubjectKeys(ctx, tenantID, missing); err != nil {
			return false, err
		}
	}
	if err := s.linkSubjects(ctx, se, stored); err != nil {
		return false, err
	}
	plan, err := s.planEvent(ctx, se, routes, firstDelay)
	if err != nil {
		return false, err
	}
	if _, err := tx.InsertEvent(ctx, plan.rows); err != nil {
		return false, err
	}
	return plan.unclaimed, nil
}

// Event returns an event's metadata or ENOTFOUND.
func (s *Store) Event(ctx context.Context, tenantID, id string) (*sluice.Event, error) {
	return s.read.Event(ctx, tenantID, id)
}

// Events lists a tenant's events, newest first.
func (s *Store) Events(ctx context.Context, tenantID string, f sluice.EventFilter) ([]*sluice.Event, string, error) {
	return s.read.Events(ctx, tenantID, f)
}

// Payload returns an event's payload: ENOTFOUND for an unknown event,
// EGONE when it has expired or was erased.
func (s *Store) Payload(ctx context.Context, tenantID, eventID string) (*sluice.Payload, error) {
	r, err := s.read.Payload(ctx, tenantID, eventID)
	if err != nil {
		return nil, err
	}
	if !retained(r, s.now()) {
		return nil, sluice.Errorf(sluice.EGONE, "the payload of this event has expired or was erased")
	}
	var shares map[string][]KeyShareRow
	if r.KeyShare != nil {
		if shares, err = s.sharesOf(ctx, []string{eventID}); err != nil {
			return nil, err
		}
	}
	p := &sluice.Payload{ContentType: r.ContentType, ExpiresAt: r.Until(), Hops: r.Hops}
	if p.Body, p.Headers, err = s.openStoredPayload(ctx, tenantID, eventID, r, shares[eventID]); err != nil {
		return nil, err
	}
	return p, nil
}

// retained reports whether a payload is still kept at now.
func retained(r *PayloadRow, now time.Time) bool {
	return r.State == sluice.PayloadRetained && r.Body != nil && now.Before(r.Until())
}

// Deliveries lists an event's deliveries, oldest first.
func (s *Store) Deliveries(ctx context.Context, tenantID, eventID string) ([]*sluice.Delivery, error) {
	return s.read.Deliveries(ctx, tenantID, eventID)
}

// Attempts lists an event's attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, tenantID, eventID string) ([]*sluice.Attempt, error) {
	return s.read.Attempts(ctx, tenantID, eventID)
}

// RetainedPayloads counts the tenant's retained payloads and returns the
// earliest time one expires.
func (s *Store) RetainedPayloads(ctx context.Context, tenantID string) (int, time.Time, error) {
	return s.read.RetainedPayloads(ctx, tenantID)
}

// Observations lists what the tenant's events have been seen to carry.
func (s *Store) Observations(ctx context.Context, tenantID string) ([]*sluice.Observation, error) {
	return s.read.Observations(ctx, tenantID)
}
