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

// claimBatch claims as much due work as there is room for and starts it. It
// reports whether a batch came back full, so more work is probably due.
//
// No destination may end up with more than PerDestination attempts in
// flight, yet the store only knows which destinations to skip, not how many
// each may take. So every destination left in a request has room for the
// whole batch: first a batch as large as the free workers allow, skipping
// destinations without that much room; then, if that did not fill up and it
// skipped destinations that have some room, a batch sized to the fullest of
// those.
func (d *Dispatcher) claimBatch(ctx context.Context) bool {
	limit, skip := d.firstBatchSize()
	if limit == 0 {
		return false
	}
	if n, ok := d.claimAndStart(ctx, limit, skip); !ok || n == limit {
		return ok
	}
	limit, skip = d.topUpBatchSize(skip)
	if limit == 0 {
		return false
	}
	n, ok := d.claimAndStart(ctx, limit, skip)
	return ok && n == limit
}

// firstBatchSize returns the free workers, at most PerDestination, and the
// destinations with less room than that. A zero limit means no free worker.
func (d *Dispatcher) firstBatchSize() (int, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := min(d.cfg.Workers-d.running, d.cfg.PerDestination)
	if limit <= 0 {
		return 0, nil
	}
	var skip []string
	for id, n := range d.perDest {
		if d.cfg.PerDestination-n < limit {
			skip = append(skip, id)
		}
	}
	return limit, skip
}

// topUpBatchSize sizes a second claim after a first one came back short
// having skipped the destinations in skipped: it skips only full
// destinations and takes no more than the fullest of the others has room
// for. A zero limit means there is no point: no free worker, or no skipped
// destination with room.
func (d *Dispatcher) topUpBatchSize(skipped []string) (int, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := min(d.cfg.Workers-d.running, d.cfg.PerDestination)
	if limit <= 0 || !slices.ContainsFunc(skipped, func(id string) bool { return d.perDest[id] < d.cfg.PerDestination }) {
		return 0, nil
	}
	var skip []string
	fullest := 0
	for id, n := range d.perDest {
		if n >= d.cfg.PerDestination {
			skip = append(skip, id)
		} else {
			fullest = max(fullest, n)
		}
	}
	return min(limit, d.cfg.PerDestination-fullest), skip
}

// claimAndStart claims up to limit deliveries and starts an attempt for
// each. It returns how many it claimed, and false if the store failed.
func (d *Dispatcher) claimAndStart(ctx context.Context, limit int, skip []string) (int, bool) {
	claims, err := d.claim(ctx, limit, skip)
	if err != nil {
		d.logger.Error("claim deliveries", slog.Any("error", err))
		return 0, false
	}
	d.startAttempts(claims)
	return len(claims), true
}

func (d *Dispatcher) claim(ctx context.Context, limit int, skip []string) ([]*sluice.Claim, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	claims, err := d.store.ClaimDue(ctx, sluice.ClaimRequest{
		Now:              d.now(),
		Limit:            limit,
		Lease:            d.cfg.Lease,
		SkipDestinations: skip,
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return claims, nil
}

// startAttempts runs each claim in its own worker. The claim loop calls it,
// so workers are only added before loopDone closes and Stop's Wait is sound.
func (d *Dispatcher) startAttempts(claims []*sluice.Claim) {
	if len(claims) == 0 {
		return
	}
	d.mu.Lock()
	d.running += len(claims)
	for _, c := range claims {
		d.perDest[c.Delivery.DestinationID]++
	}
	d.mu.Unlock()
	// A rate-limited destination's next delivery, if it has one waiting,
	// is due one interval after this start: look for it then.
	now := d.now()
	for _, c := range claims {
		if n := c.Destination.RateLimitPerSecond; n > 0 {
			d.wakeAt(now.Add(time.Second / time.Duration(n)))
		}
	}
	d.workers.Add(len(claims))
	for _, c := range claims {
		go func() {
			defer d.workers.Done()
			defer d.finished(c.Delivery.DestinationID)
			d.deliver(c)
		}()
	}
}

// finished frees an attempt's worker and destination slot and wakes the
// loop, which may have held work back for want of them.
func (d *Dispatcher) finished(destinationID string) {
	d.mu.Lock()
	d.running--
	if d.perDest[destinationID]--; d.perDest[destinationID] <= 0 {
		delete(d.perDest, destinationID)
	}
	d.mu.Unlock()
	d.Wake()
}

// wakeAt makes the loop look for work at t, when a retry this dispatcher
// scheduled becomes due, instead of waiting for the next poll after it.
func (d *Dispatcher) wakeAt(t time.Time) {
	delay := t.Sub(d.now())
	if delay >= d.cfg.PollInterval {
		return // the ticker finds it in time
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.stopping:
		return
	default:
	}
	if d.timerAt.After(d.now()) && !t.Before(d.timerAt) {
		return // an earlier wake-up is already armed
	}
	d.timerAt = t
	if d.timer == nil {
		d.timer = time.AfterFunc(delay, d.timerFired)
		return
	}
	d.timer.Reset(delay)
}

// timerFired runs when the wake-up timer fires. A timer reset to a later
// time after it fired keeps its new time.
func (d *Dispatcher) timerFired() {
	d.mu.Lock()
	if !d.timerAt.After(d.now()) {
		d.timerAt = time.Time{}
	}
	d.mu.Unlock()
	d.Wake()
}
