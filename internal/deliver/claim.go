package deliver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// claimLoop claims work whenever woken, on every poll tick, and again at
// once after a full batch, until Stop or ctx ends.
func (d *Dispatcher) claimLoop(ctx context.Context) {
	defer close(d.loopDone)
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-d.stopping:
			return
		case <-ctx.Done():
			return
		default:
		}
		if d.claimBatch(ctx) {
			continue
		}
		select {
		case <-d.stopping:
			return
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-ticker.C:
		}
	}
}

// prefetchFactor sizes the claims held ready beyond the workers, as a
// multiple of Workers (and, per destination, of PerDestination): a worker
// that finishes takes the next delivery to its destination from a queue
// instead of waiting for a claim's round trip through the store, which is
// what bounded a busy destination's throughput. Deep queues also let a
// busy destination's new deliveries be created already claimed
// (sluice.ClaimedAtBirth) instead of claimed again through the store: with
// 1, under a 64-sender load most were not, and claiming was a quarter of
// the writer's time; 4 took e2e from about 5,800 to 7,600 delivered events
// a second, and 16 gained nothing more. A queued claim waits at most its
// lease less the attempt timeout (popQueued), so deep queues never make a
// delivery late.
const prefetchFactor = 4

// maxQueuedBytes bounds the payload bytes held in queued claims, so deep
// queues of large payloads cannot exhaust memory: past it, nothing more is
// claimed until workers drain the queues.
const maxQueuedBytes = 32 << 20

// maxRecordingFactor bounds the attempts waiting to be recorded, as a
// multiple of Workers: when the store falls behind, claiming stops until it
// catches up, so leases never run out while attempts wait to be recorded.
const maxRecordingFactor = 4

// queuedClaim is a claimed delivery waiting for a worker.
type queuedClaim struct {
	claim    *sluice.Claim
	leaseEnd time.Time
}

// claimBatch first hands queued claims to free workers, then claims as
// much due work as the free workers and queues have room for, and starts
// what it can. Each destination gets no more than its room, PerDestination
// in flight and prefetchFactor times as many queued, and each tenant no
// more than its room, PerTenant in flight and prefetchFactor times as many
// queued: one tenant's backlog leaves room in every batch for the others.
// It reports whether the batch came back full, so more work is probably
// due.
func (d *Dispatcher) claimBatch(ctx context.Context) bool {
	d.startAll(d.takeQueued())
	r, seq := d.batchSize()
	if r.Limit == 0 {
		return false
	}
	d.maybeDue.Store(false) // a Wake from now on sets it again
	claims, err := d.claim(ctx, r)
	if err != nil {
		d.maybeDue.Store(true)
		d.logger.Error("claim deliveries", slog.Any("error", err))
		return false
	}
	if len(claims) == r.Limit || leftBehind(r, claims) {
		d.maybeDue.Store(true)
	}
	start, back := d.placeSince(claims, seq)
	d.returnClaims(back)
	d.startAll(start)
	// With claims given back, the failure's worker wakes the loop when it
	// is done; claiming again before would only take them again.
	return len(back) == 0 && len(claims) == r.Limit
}

// batchSize returns the claim request for as many deliveries as there is
// room for, with the room of every destination and every tenant with
// attempts in flight or queued, and failSeq, to pass to placeSince with
// what is claimed. A zero Limit means no room anywhere, or a store behind
// with its recording.
func (d *Dispatcher) batchSize() (r sluice.ClaimRequest, seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := (1+prefetchFactor)*d.cfg.Workers - d.running - d.nQueued
	if limit <= 0 || d.queuedLen >= maxQueuedBytes || d.recording >= maxRecordingFactor*d.cfg.Workers {
		return sluice.ClaimRequest{}, d.failSeq
	}
	perDest := (1 + prefetchFactor) * d.cfg.PerDestination
	room := make(map[string]int, len(d.perDest)+len(d.queued))
	for id, n := range d.perDest {
		room[id] = perDest - n - len(d.queued[id])
	}
	for id, q := range d.queued {
		room[id] = perDest - d.perDest[id] - len(q)
	}
	perTenant := (1 + prefetchFactor) * d.cfg.PerTenant
	tenantRoom := make(map[string]int, len(d.perTenant)+len(d.tenantQ))
	for id, n := range d.perTenant {
		tenantRoom[id] = perTenant - n - d.tenantQ[id]
	}
	for id, n := range d.tenantQ {
		tenantRoom[id] = perTenant - d.perTenant[id] - n
	}
	return sluice.ClaimRequest{
		Now:            d.now(),
		Limit:          limit,
		Lease:          d.cfg.Lease,
		PerDestination: perDest,
		Room:           room,
		PerTenant:      perTenant,
		TenantRoom:     tenantRoom,
	}, d.failSeq
}

// leftBehind reports whether a claim under r may have left due work in the
// store for want of room: a destination or a tenant it had to skip, or
// one whose room its claims used up.
func leftBehind(r sluice.ClaimRequest, claims []*sluice.Claim) bool {
	dests := make(map[string]int, len(claims))
	tenants := make(map[string]int, len(claims))
	for _, c := range claims {
		dests[c.Delivery.DestinationID]++
		tenants[c.Delivery.TenantID]++
	}
	return usedUp(r.Room, dests, r.PerDestination) || usedUp(r.TenantRoom, tenants, r.PerTenant)
}

// usedUp reports whether any id had no room left after taken: its room,
// or def for one not in room (0: no cap).
func usedUp(room, taken map[string]int, def int) bool {
	for id, n := range room {
		if n <= taken[id] {
			return true
		}
	}
	for id, n := range taken {
		if _, ok := room[id]; !ok && def > 0 && n >= def {
			return true
		}
	}
	return false
}

func (d *Dispatcher) claim(ctx context.Context, r sluice.ClaimRequest) ([]*sluice.Claim, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	claims, err := d.store.ClaimDue(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return claims, nil
}

// OfferRequest returns the claim request under which a new event's
// deliveries may be created already claimed for this dispatcher
// (sluice.NewEvent.Claim), sized to the room it has now, and the function
// to pass what the store claimed under it; nils when it has no room or is
// stopping. That function starts the deliveries it has workers for and
// queues the rest; once stopping it gives them back to the store instead.
func (d *Dispatcher) OfferRequest() (*sluice.ClaimRequest, func([]*sluice.Claim)) {
	select {
	case <-d.stopping:
		return nil, nil
	default:
	}
	r, seq := d.batchSize()
	if r.Limit == 0 {
		return nil, nil
	}
	return &r, func(claims []*sluice.Claim) { d.offer(claims, seq) }
}

// offer takes deliveries created claimed under a request made when failSeq
// was seq.
func (d *Dispatcher) offer(claims []*sluice.Claim, seq uint64) {
	if len(claims) == 0 {
		return
	}
	d.mu.Lock()
	select {
	case <-d.stopping:
		d.mu.Unlock()
		d.returnClaims(claims)
		return
	default:
	}
	start, back := d.placeSinceLocked(claims, seq)
	// Added under mu, before Stop can close stopping: Stop's Wait is sound.
	d.workers.Add(len(start))
	d.mu.Unlock()
	d.run(start)
	if len(back) > 0 {
		d.returnClaims(back)
		d.Wake()
	}
}

// placeSince takes a worker slot for each claim that can start now and
// queues the others, returning those to start. The claims were made when
// failSeq was seq: those of a destination with a failed attempt recorded
// since are returned as back, to be given back to the store. That
// recording may have paused the destination after the store read it
// unpaused for these claims, and given its queued claims back before these
// were queued; the store decides again with the pause committed.
func (d *Dispatcher) placeSince(claims []*sluice.Claim, seq uint64) (start, back []*sluice.Claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.placeSinceLocked(claims, seq)
}

// placeSinceLocked is placeSince with d.mu held.
func (d *Dispatcher) placeSinceLocked(claims []*sluice.Claim, seq uint64) (start, back []*sluice.Claim) {
	leaseEnd := d.now().Add(d.cfg.Lease)
	for _, c := range claims {
		tenant, dest := c.Delivery.TenantID, c.Delivery.DestinationID
		switch {
		case d.failedSince(dest, seq):
			back = append(back, c)
		case len(d.queued[dest]) == 0 && d.hasSlot(tenant, dest):
			d.takeSlot(tenant, dest)
			start = append(start, c)
		default:
			d.queued[dest] = append(d.queued[dest], queuedClaim{claim: c, leaseEnd: leaseEnd})
			d.nQueued++
			d.tenantQ[tenant]++
			d.queuedLen += len(c.Body)
		}
	}
	return start, back
}

// takeQueued gives free workers the queued claims of destinations with a
// free slot, whose tenants have one too, and returns them to start.
func (d *Dispatcher) takeQueued() []*sluice.Claim {
	d.mu.Lock()
	defer d.mu.Unlock()
	var start []*sluice.Claim
	for dest, q := range d.queued {
		tenant := q[0].claim.Delivery.TenantID // a destination has one tenant
		for d.hasSlot(tenant, dest) {
			c := d.popQueued(dest)
			if c == nil {
				break
			}
			d.takeSlot(tenant, dest)
			start = append(start, c)
		}
	}
	return start
}

// hasSlot reports whether a worker, a slot of the destination and a slot
// of its tenant are free. Call it with d.mu held.
func (d *Dispatcher) hasSlot(tenant, dest string) bool {
	return d.running < d.cfg.Workers && d.perDest[dest] < d.cfg.PerDestination &&
		d.perTenant[tenant] < d.cfg.PerTenant
}

// takeSlot counts an attempt starting. Call it with d.mu held.
func (d *Dispatcher) takeSlot(tenant, dest string) {
	d.running++
	d.perDest[dest]++
	d.perTenant[tenant]++
}

// freeSlot counts an attempt ending. Call it with d.mu held.
func (d *Dispatcher) freeSlot(tenant, dest string) {
	d.running--
	if d.perDest[dest]--; d.perDest[dest] <= 0 {
		delete(d.perDest, dest)
	}
	if d.perTenant[tenant]--; d.perTenant[tenant] <= 0 {
		delete(d.perTenant, tenant)
	}
}

// unqueue counts a claim leaving the queues. Call it with d.mu held.
func (d *Dispatcher) unqueue(c *sluice.Claim) {
	d.nQueued--
	d.queuedLen -= len(c.Body)
	if d.tenantQ[c.Delivery.TenantID]--; d.tenantQ[c.Delivery.TenantID] <= 0 {
		delete(d.tenantQ, c.Delivery.TenantID)
	}
}

// popQueued returns the destination's next queued claim with enough lease
// left for an attempt, or nil. A claim without enough lease is dropped: it
// comes due again when its lease ends. Call it with d.mu held.
func (d *Dispatcher) popQueued(dest string) *sluice.Claim {
	latest := d.now().Add(d.cfg.Timeout)
	for q := d.queued[dest]; len(q) > 0; q = d.queued[dest] {
		next := q[0]
		if len(q) == 1 {
			delete(d.queued, dest)
		} else {
			d.queued[dest] = q[1:]
		}
		d.unqueue(next.claim)
		if next.leaseEnd.After(latest) {
			return next.claim
		}
	}
	return nil
}

// returnQueued gives the claims queued for the destination, or for every
// destination when it is empty, back to the store, due at once.
func (d *Dispatcher) returnQueued(dest string) {
	d.mu.Lock()
	var ids []string
	for id, q := range d.queued {
		if dest != "" && id != dest {
			continue
		}
		for _, qc := range q {
			ids = append(ids, qc.claim.Delivery.ID)
			d.unqueue(qc.claim)
		}
		delete(d.queued, id)
	}
	d.mu.Unlock()
	d.returnIDs(ids)
}

// returnClaims gives claims never attempted back to the store.
func (d *Dispatcher) returnClaims(claims []*sluice.Claim) {
	ids := make([]string, len(claims))
	for i, c := range claims {
		ids[i] = c.Delivery.ID
	}
	d.returnIDs(ids)
}

func (d *Dispatcher) returnIDs(ids []string) {
	if len(ids) == 0 {
		return
	}
	defer d.maybeDue.Store(true) // due again, once returned
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := d.store.ReturnClaims(ctx, ids); err != nil {
		// They come due anyway when their leases end.
		d.logger.Error("return claims", slog.Int("claims", len(ids)), slog.Any("error", err))
	}
}

// startAll runs each claim in a worker of its own. The claim loop calls it,
// so workers are only added before loopDone closes and Stop's Wait is sound.
func (d *Dispatcher) startAll(claims []*sluice.Claim) {
	d.workers.Add(len(claims))
	d.run(claims)
}

// run starts a worker for each claim, already counted in d.workers.
func (d *Dispatcher) run(claims []*sluice.Claim) {
	// A rate-limited destination's next delivery, if it has one waiting,
	// is due one interval after this start: look for it then.
	now := d.now()
	for _, c := range claims {
		if n := c.Destination.RateLimitPerSecond; n > 0 {
			d.wakeAt(now.Add(time.Second / time.Duration(n)))
		}
	}
	for _, c := range claims {
		go d.work(c)
	}
}

// work attempts c and then, while its destination has queued claims, the
// next one in the same worker.
func (d *Dispatcher) work(c *sluice.Claim) {
	defer d.workers.Done()
	for c != nil {
		d.deliver(c)
		c = d.next(c.Delivery.TenantID, c.Delivery.DestinationID)
	}
}

// next frees the worker, destination and tenant slots of a finished
// attempt and returns the destination's next queued claim to run in them,
// or nil; then it wakes the loop, which may have held work back for want
// of a worker.
func (d *Dispatcher) next(tenant, dest string) *sluice.Claim {
	d.mu.Lock()
	d.freeSlot(tenant, dest)
	var c *sluice.Claim
	select {
	case <-d.stopping:
	default:
		if c = d.popQueued(dest); c != nil {
			d.takeSlot(tenant, dest)
		}
	}
	d.mu.Unlock()
	if c == nil {
		d.wakeForRoom()
	}
	return c
}

// maxWakes bounds the wake-up times held. Past it a later time is dropped:
// the poll, at most PollInterval after it, finds its work instead.
const maxWakes = 1024

// wakeAt makes the loop look for work at t, when a retry this dispatcher
// scheduled or a rate-limited destination's next start becomes due,
// instead of waiting for the next poll after it. Every such time is kept,
// not only the earliest: a destination limited to 4 a second must not
// wait for the poll because another's start, 50 ms away, armed the timer
// first.
func (d *Dispatcher) wakeAt(t time.Time) {
	now := d.now()
	if t.Sub(now) >= d.cfg.PollInterval {
		return // the ticker finds it in time
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.stopping:
		return
	default:
	}
	i, found := slices.BinarySearchFunc(d.wakes, t, time.Time.Compare)
	if found || (i == len(d.wakes) && len(d.wakes) >= maxWakes) {
		return
	}
	if len(d.wakes) >= maxWakes {
		d.wakes = d.wakes[:len(d.wakes)-1] // the latest gives way to an earlier one
	}
	d.wakes = slices.Insert(d.wakes, i, t)
	if i == 0 {
		d.armLocked(now)
	}
}

// armLocked sets the timer for the earliest wake-up time, if any. Call it
// with d.mu held.
func (d *Dispatcher) armLocked(now time.Time) {
	if len(d.wakes) == 0 {
		return
	}
	delay := d.wakes[0].Sub(now)
	if d.timer == nil {
		d.timer = time.AfterFunc(delay, d.timerFired)
		return
	}
	d.timer.Reset(delay)
}

// timerFired runs when the wake-up timer fires: it drops the times that
// have come, and the earliest in any case (it is what the timer was set
// for, whatever the dispatcher's clock says), arms the timer for the next
// one and wakes the loop.
func (d *Dispatcher) timerFired() {
	d.mu.Lock()
	now := d.now()
	n := min(1, len(d.wakes))
	for n < len(d.wakes) && !d.wakes[n].After(now) {
		n++
	}
	d.wakes = slices.Delete(d.wakes, 0, n)
	select {
	case <-d.stopping:
	default:
		d.armLocked(now)
	}
	d.mu.Unlock()
	d.Wake()
}
