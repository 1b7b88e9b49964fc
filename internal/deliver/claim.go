package deliver

import (
	"context"
	"fmt"
	"log/slog"
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

// claimBatch claims as much due work as there are free workers for and
// starts it, giving each destination no more than its free slots
// (PerDestination less its attempts in flight). It reports whether the
// batch came back full, so more work is probably due.
func (d *Dispatcher) claimBatch(ctx context.Context) bool {
	limit, room := d.batchSize()
	if limit == 0 {
		return false
	}
	claims, err := d.claim(ctx, limit, room)
	if err != nil {
		d.logger.Error("claim deliveries", slog.Any("error", err))
		return false
	}
	d.startAttempts(claims)
	return len(claims) == limit
}

// batchSize returns the free workers and the room of every destination
// with attempts in flight. A zero limit means no free worker.
func (d *Dispatcher) batchSize() (int, map[string]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := d.cfg.Workers - d.running
	if limit <= 0 {
		return 0, nil
	}
	room := make(map[string]int, len(d.perDest))
	for id, n := range d.perDest {
		room[id] = d.cfg.PerDestination - n
	}
	return limit, room
}

func (d *Dispatcher) claim(ctx context.Context, limit int, room map[string]int) ([]*sluice.Claim, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	claims, err := d.store.ClaimDue(ctx, sluice.ClaimRequest{
		Now:            d.now(),
		Limit:          limit,
		Lease:          d.cfg.Lease,
		PerDestination: d.cfg.PerDestination,
		Room:           room,
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
