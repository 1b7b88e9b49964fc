package engine

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// ClaimCandidate is a due pending delivery that ClaimDue may take.
type ClaimCandidate struct {
	ID            string
	TenantID      string
	DestinationID string
	Due           int64 // next_attempt_at, Unix milliseconds
	// RateSlot is the rate limiter epoch in which the delivery's due time
	// was reserved as its start; 0 for none. A reservation of the gate's
	// current epoch is kept: the delivery takes no other start.
	RateSlot int64
}

// CompareCandidates orders candidates as ClaimCandidates returns them:
// earliest due first, and by id among those due at once, so that which
// deliveries a claim takes does not depend on the database.
func CompareCandidates(a, b ClaimCandidate) int {
	return cmp.Or(cmp.Compare(a.Due, b.Due), strings.Compare(a.ID, b.ID))
}

// Gate is what holds a destination's deliveries back: its rate limit and
// its circuit breaker, as stored, read under the claim's lock. A
// destination with neither has no Gate.
type Gate struct {
	RatePerSecond int
	// RateNextAt is the earliest start the rate limiter has left, in Unix
	// microseconds (a GCRA theoretical arrival time); 0 if none was taken.
	RateNextAt int64
	// RateHoldUntil is one interval after the last start, in Unix
	// microseconds: no delivery starts before it, even one whose reserved
	// start has passed, so a claim that comes late never bursts.
	RateHoldUntil int64
	// RateEpoch numbers the limiter's resets; reservations of an older
	// epoch are void.
	RateEpoch int64
	// PausedUntil is set while the circuit is open. ClaimDue only sees
	// deliveries of destinations whose pause has ended: one goes as the
	// probe, and the pause is extended to the probe's lease end.
	PausedUntil time.Time
	// Changed is set by planClaims when the store must write the gate back.
	Changed bool
}

// Limited reports whether the gate holds anything back.
func (g *Gate) Limited() bool { return g.RatePerSecond > 0 || !g.PausedUntil.IsZero() }

// Reservation is a delivery the rate limiter moved to a later start.
type Reservation struct {
	ID    string
	At    time.Time
	Epoch int64 // the gate's RateEpoch, stored as the delivery's rate_slot
}

// ClaimPlan is what one pass of ClaimDue does with its candidates. Those
// neither claimed nor rescheduled are held: still due, for a later pass.
type ClaimPlan struct {
	Claim      []string      // lease these, in candidate order
	Reschedule []Reservation // make these due later, with rate_slot set
}

// planClaims decides, for candidates in due order, which to claim now at
// now, with leases ending at leaseUntil, and which the rate limiter moves
// to a later start. gates holds the Gate of every candidate's destination
// that has one; planClaims updates them and marks those to store.
//
// The rate limiter spaces starts evenly, at least 1/N s apart, with no
// burst: a delivery without a reserved start takes the next free one, and
// goes now if that start is now, or else is rescheduled to it and keeps it.
// Every delivery therefore waits once, in order, and a backlog costs one
// write per delivery rather than one per delivery per pass. A reserved
// start that passed while claims were late does not let two deliveries go
// together: each start holds the next back by one interval.
func planClaims(now, leaseUntil time.Time, candidates []ClaimCandidate, gates map[string]*Gate) ClaimPlan {
	var plan ClaimPlan
	nowMicros := now.UnixMicro()
	probed := make(map[string]bool)
	for _, c := range candidates {
		g := gates[c.DestinationID]
		if g == nil {
			plan.Claim = append(plan.Claim, c.ID)
			continue
		}
		if !g.PausedUntil.IsZero() {
			if probed[c.DestinationID] || g.PausedUntil.After(now) {
				continue // held: its probe is out, or the pause is not over
			}
			// The pause is over: this delivery probes alone, and the
			// others wait for its outcome (or for its lease to end).
			probed[c.DestinationID] = true
			g.PausedUntil, g.Changed = leaseUntil, true
			if g.RatePerSecond > 0 {
				g.RateHoldUntil = nowMicros + interval(g.RatePerSecond)
			}
			plan.Claim = append(plan.Claim, c.ID)
			continue
		}
		if g.RatePerSecond == 0 {
			plan.Claim = append(plan.Claim, c.ID)
			continue
		}
		if c.RateSlot != g.RateEpoch {
			start := max(g.RateNextAt, g.RateHoldUntil, nowMicros)
			g.RateNextAt, g.Changed = start+interval(g.RatePerSecond), true
			if start > nowMicros {
				plan.Reschedule = append(plan.Reschedule, Reservation{ID: c.ID, At: time.UnixMicro(start), Epoch: g.RateEpoch})
				continue
			}
		} else if nowMicros < g.RateHoldUntil {
			continue // held: its start came, but another delivery just started
		}
		g.RateHoldUntil, g.Changed = nowMicros+interval(g.RatePerSecond), true
		plan.Claim = append(plan.Claim, c.ID)
	}
	return plan
}

// interval is the spacing of starts at perSecond a second, in microseconds.
func interval(perSecond int) int64 {
	return max(1, int64(time.Second/time.Microsecond)/int64(perSecond))
}

// maxClaimPasses bounds how often one claim looks again for work after the
// rate limiter, the circuit breaker or a destination's or a tenant's room
// held some of its candidates back.
const maxClaimPasses = 4

// claimPasses runs ClaimDue inside its transaction and returns the
// ids to load as claims, in due order. fetch returns up to want due
// candidates, earliest first, skipping the destinations in skip and the
// tenants in skipTenants, with the gates of their destinations; apply
// writes a plan. Destinations and tenants that run out of room join the
// skips, so a pass never sees their deliveries again and the scan of the
// due index stays as short as the claim.
func claimPasses(r sluice.ClaimRequest,
	fetch func(skip, skipTenants []string, want int) ([]ClaimCandidate, map[string]*Gate, error),
	apply func(plan ClaimPlan, gates map[string]*Gate) error) ([]string, error) {
	dests := newRoomLeft(r.Room, r.PerDestination)
	tenants := newRoomLeft(r.TenantRoom, r.PerTenant)
	leaseUntil := r.Now.Add(r.Lease)
	var ids []string
	for pass := 0; pass < maxClaimPasses && len(ids) < r.Limit; pass++ {
		want := r.Limit - len(ids)
		candidates, gates, err := fetch(dests.skip, tenants.skip, want)
		if err != nil {
			return nil, err
		}
		// Keep no more of a destination or a tenant than its room; the plan
		// may still leave some of those unclaimed (rescheduled or held).
		kept := make([]ClaimCandidate, 0, len(candidates))
		keptAt := make(map[string]int, len(candidates)) // id → index in kept
		takenDest := make(map[string]int)
		takenTenant := make(map[string]int)
		for _, c := range candidates {
			if n, capped := dests.room(c.DestinationID); capped && takenDest[c.DestinationID] >= n {
				continue
			}
			if n, capped := tenants.room(c.TenantID); capped && takenTenant[c.TenantID] >= n {
				continue
			}
			takenDest[c.DestinationID]++
			takenTenant[c.TenantID]++
			keptAt[c.ID] = len(kept)
			kept = append(kept, c)
		}
		plan := planClaims(r.Now, leaseUntil, kept, gates)
		if err := apply(plan, gates); err != nil {
			return nil, err
		}
		ids = append(ids, plan.Claim...)
		for _, id := range plan.Claim {
			c := &kept[keptAt[id]]
			dests.take(c.DestinationID)
			tenants.take(c.TenantID)
		}
		if len(candidates) < want || len(plan.Claim) == len(candidates) {
			break // no more due work, or none was held back
		}
	}
	return ids, nil
}

// roomLeft is what one claim may still take of each destination, or of
// each tenant: the request's room for those it names, and def for the
// others (0: no cap).
type roomLeft struct {
	left map[string]int
	def  int
	skip []string // ids with no room left
}

func newRoomLeft(given map[string]int, def int) *roomLeft {
	r := &roomLeft{left: make(map[string]int, len(given)), def: def}
	for id, n := range given {
		if n <= 0 {
			r.skip = append(r.skip, id)
			continue
		}
		r.left[id] = n
	}
	return r
}

// room returns the room left for id, and whether id has a cap at all.
func (r *roomLeft) room(id string) (int, bool) {
	n, capped := r.left[id]
	if !capped && r.def > 0 {
		r.left[id] = r.def
		return r.def, true
	}
	return n, capped
}

// take counts a claim of id: an id whose room runs out joins skip.
func (r *roomLeft) take(id string) {
	if n, capped := r.left[id]; capped {
		if r.left[id] = n - 1; n == 1 {
			r.skip = append(r.skip, id)
		}
	}
}

// ClaimDue leases up to r.Limit due pending deliveries of enabled
// destinations, earliest first and within each destination's and each
// tenant's room, for
// r.Lease, passing them through their destinations' rate limits and
// circuit breakers (claimPasses): deliveries over a rate limit are
// rescheduled to their own later start, and a paused destination gets one
// probe.
//
// A claim moves a delivery's next attempt to the end of its lease, so the
// deliveries of a dispatcher that died come due again when their leases
// end. A claimed delivery whose payload is gone is expired instead. The
// payloads and destinations' secrets are opened after the commit, holding
// no writer.
func (s *Store) ClaimDue(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	return s.claim(ctx, r, nil, func(ctx context.Context, tx Tx, skip, skipTenants []string, want int) ([]ClaimCandidate, map[string]*Gate, error) {
		return tx.ClaimCandidates(ctx, r.Now, skip, skipTenants, want)
	})
}

// candidateFetch returns up to want due candidates in a claim's
// transaction, as Tx.ClaimCandidates does.
type candidateFetch func(ctx context.Context, tx Tx, skip, skipTenants []string, want int) ([]ClaimCandidate, map[string]*Gate, error)

// claim runs a claim of the candidates fetch finds (see ClaimDue) in one
// transaction, after before, when set, has run in it.
func (s *Store) claim(ctx context.Context, r sluice.ClaimRequest, before func(ctx context.Context, tx Tx) error,
	fetch candidateFetch) ([]*sluice.Claim, error) {
	var rows []*ClaimRow
	err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		rows = nil
		if before != nil {
			if err := before(ctx, tx); err != nil {
				return err
			}
		}
		leaseUntil := r.Now.Add(r.Lease)
		ids, err := claimPasses(r,
			func(skip, skipTenants []string, want int) ([]ClaimCandidate, map[string]*Gate, error) {
				return fetch(ctx, tx, skip, skipTenants, want)
			},
			func(plan ClaimPlan, gates map[string]*Gate) error {
				return tx.ApplyClaimPlan(ctx, plan, gates, r.Now, leaseUntil)
			})
		if err != nil || len(ids) == 0 {
			return err
		}
		loaded, err := tx.LoadClaims(ctx, ids, r.Now)
		if err != nil {
			return err
		}
		var gone []string
		for _, c := range loaded {
			if c.Body == nil && !s.volatile.has(c.Delivery.EventID, r.Now) {
				gone = append(gone, c.Delivery.ID)
				continue
			}
			rows = append(rows, c)
		}
		return s.expireDeliveries(ctx, tx, gone)
	})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return s.openClaims(ctx, rows)
}

// expireDeliveries ends claimed deliveries whose payload cannot be sent.
func (s *Store) expireDeliveries(ctx context.Context, tx Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	eventIDs, err := tx.ExpireDeliveries(ctx, ids, s.now())
	if err != nil {
		return fmt.Errorf("expire deliveries: %w", err)
	}
	return tx.RefreshEventStatus(ctx, eventIDs)
}

// openClaims opens the claims' destinations and payloads, and gives them
// their tenants' restricted data policies. A payload that
// fails its integrity check, or whose subject was erased meanwhile, cannot
// be sent: it ends like a payload that is gone, in a transaction of its
// own.
func (s *Store) openClaims(ctx context.Context, rows []*ClaimRow) ([]*sluice.Claim, error) {
	var shared []string // events whose payloads are sealed for their subjects
	for _, r := range rows {
		if r.KeyShare != nil {
			shared = append(shared, r.Delivery.EventID)
		}
	}
	shares, err := s.sharesOf(ctx, shared)
	if err != nil {
		return nil, err
	}
	claims := make([]*sluice.Claim, 0, len(rows))
	var broken []string
	for _, r := range rows {
		c, err := s.claimOf(ctx, r)
		if err != nil {
			return nil, err
		}
		c.Delivery.Status = sluice.DeliveryPending
		if r.UntilDelivered {
			c.Storage = sluice.StorageUntilDelivered
		}
		if r.Body == nil {
			// A payload stored nowhere is delivered from this process's
			// memory while it keeps it; else it is gone.
			if v, ok := s.volatile.get(c.Delivery.EventID, s.clock()); ok {
				c.Body, c.ContentType, c.Hops, c.Storage = v.body, v.contentType, v.hops, sluice.StorageNone
			}
			claims = append(claims, c)
			continue
		}
		payload := &PayloadRow{Body: r.Body, KeyShare: r.KeyShare}
		if c.Body, _, err = s.openStoredPayload(ctx, c.Delivery.TenantID, c.Delivery.EventID, payload,
			shares[c.Delivery.EventID]); err != nil {
			if err != errSubjectErased {
				s.logger.Error("payload failed its integrity check", "event_id", c.Delivery.EventID, "error", err)
			}
			broken = append(broken, c.Delivery.ID)
			continue
		}
		claims = append(claims, c)
	}
	if len(broken) > 0 {
		err := s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error { return s.expireDeliveries(ctx, tx, broken) })
		if err != nil {
			return nil, err
		}
	}
	if err := s.completeClaims(ctx, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// completeClaims gives claims with their payloads opened what deliver.Body
// needs besides: their tenants' restricted data policies and the tokens of
// their destinations' pseudonymised values.
func (s *Store) completeClaims(ctx context.Context, claims []*sluice.Claim) error {
	if err := s.fillRestricted(ctx, claims); err != nil {
		return err
	}
	return s.pseudonymizeClaims(ctx, claims)
}

// claimOf returns the claim of a row with its destination opened, but not
// its payload, nor what completeClaims adds.
func (s *Store) claimOf(ctx context.Context, r *ClaimRow) (*sluice.Claim, error) {
	c := &sluice.Claim{Delivery: r.Delivery, EventType: r.EventType, ReceivedAt: r.ReceivedAt, ContentType: r.ContentType,
		Hops: r.Hops, SubjectPaths: r.SubjectPaths}
	return c, s.openDestinationInto(ctx, &r.Destination, &c.Destination)
}

// ReturnClaims gives back claims never attempted: each delivery is due
// again now. Ids no longer claimed are ignored.
func (s *Store) ReturnClaims(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.ReturnClaims(ctx, ids, s.now()); err != nil {
			return fmt.Errorf("return claims: %w", err)
		}
		return nil
	})
}

// ReleaseClaims ends the leases that cannot be attempts in flight: the
// driver's own (at the start of a process, whatever it claimed before) and
// those past their end. A database shared by processes never ends another
// live process's lease.
func (s *Store) ReleaseClaims(ctx context.Context) error {
	return s.driver.WithTx(ctx, func(ctx context.Context, tx Tx) error {
		if err := tx.ReleaseClaims(ctx, s.now()); err != nil {
			return fmt.Errorf("release claims: %w", err)
		}
		return nil
	})
}
