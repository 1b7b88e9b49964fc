package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sendFunc sends event n, measuring its latency from start: when it was
// sent in a closed loop, when it was due in an open one.
type sendFunc func(ctx context.Context, n int64, start time.Time)

// closedLoop runs workers senders, each sending its next event when the
// last is answered, until events were sent or ctx ends.
func closedLoop(ctx context.Context, workers, events int, send sendFunc) {
	var (
		wg  sync.WaitGroup
		seq atomic.Int64
	)
	for range workers {
		wg.Go(func() {
			for {
				n := seq.Add(1)
				if n > int64(events) || ctx.Err() != nil {
					return
				}
				send(ctx, n, time.Now())
			}
		})
	}
	wg.Wait()
}

// lateAfter is how far behind its schedule an open-loop start may be
// before it counts as late. Timer and goroutine scheduling jitter stay well
// under it; a later start means the generator could not offer the rate,
// because every in-flight slot was taken or it lacked CPU.
const lateAfter = 10 * time.Millisecond

// Schedule is how an open-loop run kept to its schedule.
type Schedule struct {
	Rate        float64 // events a second asked for
	MaxInFlight int     // the bound on requests in flight
	Started     int     // requests started
	// LateStarts counts requests started more than 10ms after they were
	// due. Their latency still counts from when they were due.
	LateStarts int
	MaxLag     time.Duration // the furthest a start fell behind its schedule
	// Saturated counts starts that waited because MaxInFlight requests were
	// in flight: the gateway answered slower than the rate.
	Saturated int
}

// FellBehind reports whether the generator failed to offer the rate asked
// for: the figures then describe a lower offered load.
func (s *Schedule) FellBehind() bool { return s.LateStarts > 0 }

// openLoop starts requests on a fixed schedule, each in a goroutine of its
// own, whatever the answers do. Closed-loop senders wait for an answer
// before sending again, so a stalled server is sent less and its stall is
// measured once instead of by every request it delays ("coordinated
// omission"); an open loop keeps sending and measures every request from
// when it was due.
type openLoop struct {
	rate        float64 // requests a second
	events      int
	maxInFlight int
}

// run sends every event at its time, at most l.maxInFlight at once, and
// returns when all are answered or ctx ends. It returns when the schedule
// began and how it kept to it.
func (l *openLoop) run(ctx context.Context, send sendFunc) (time.Time, *Schedule) {
	s := &Schedule{Rate: l.rate, MaxInFlight: l.maxInFlight}
	slots := make(chan struct{}, l.maxInFlight)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range l.events {
		// Each due time is computed from the beginning, not from the last,
		// so rounding never accumulates and a late start is caught up.
		due := begin.Add(time.Duration(float64(i) * float64(time.Second) / l.rate))
		if sleepUntil(ctx, due) != nil || !acquire(ctx, slots, s) {
			break
		}
		s.started(time.Since(due))
		n := int64(i + 1)
		wg.Go(func() {
			defer func() { <-slots }()
			send(ctx, n, due)
		})
	}
	wg.Wait()
	return begin, s
}

// acquire takes an in-flight slot, waiting for one when all are taken.
func acquire(ctx context.Context, slots chan struct{}, s *Schedule) bool {
	select {
	case slots <- struct{}{}:
		return true
	default:
	}
	s.Saturated++
	select {
	case slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Schedule) started(lag time.Duration) {
	s.Started++
	if lag > lateAfter {
		s.LateStarts++
	}
	s.MaxLag = max(s.MaxLag, lag)
}

// sleepUntil waits until t, or returns ctx's error when it ends first.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
