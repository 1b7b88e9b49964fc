package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// starts records what an open loop handed to send.
type starts struct {
	mu   sync.Mutex
	due  map[int64]time.Time // event number → when it was due
	sent map[int64]time.Time // event number → when send was called
}

func newStarts() *starts {
	return &starts{due: map[int64]time.Time{}, sent: map[int64]time.Time{}}
}

func (s *starts) record(n int64, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.due[n], s.sent[n] = due, time.Now()
}

// The tests below run in a synctest bubble: its clock moves only when every
// goroutine in it is blocked, so timings are exact and nothing sleeps for
// real.

// Events start exactly on the schedule, numbered in order, and run waits
// for the last answer.
func TestOpenLoopStartsOnSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const answerAfter = 30 * time.Millisecond
		got := newStarts()
		begin, s := (&openLoop{rate: 200, events: 10, maxInFlight: 100}).run(context.Background(),
			func(ctx context.Context, n int64, due time.Time) {
				got.record(n, due)
				<-time.After(answerAfter) // a server that answers in 30ms of bubble time
			})
		if len(got.due) != 10 {
			t.Fatalf("%d events started, want 10", len(got.due))
		}
		for n := int64(1); n <= 10; n++ {
			want := begin.Add(time.Duration(n-1) * 5 * time.Millisecond)
			if !got.due[n].Equal(want) || !got.sent[n].Equal(want) {
				t.Errorf("event %d due %v and sent %v after begin, want both %v",
					n, got.due[n].Sub(begin), got.sent[n].Sub(begin), want.Sub(begin))
			}
		}
		if want := 45*time.Millisecond + answerAfter; time.Since(begin) != want {
			t.Errorf("run returned %v after begin, want %v: after the last answer", time.Since(begin), want)
		}
		if *s != (Schedule{Rate: 200, MaxInFlight: 100, Started: 10}) || s.FellBehind() {
			t.Errorf("schedule %+v, want 10 started on time", s)
		}
	})
}

// With every in-flight slot taken the loop waits rather than start more,
// and the starts it then makes late are counted, their latency still
// measured from when they were due.
func TestOpenLoopBoundsInFlightAndCountsLateStarts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			got               = newStarts()
			release           = make(chan struct{})
			inFlight, maxSeen atomic.Int32
			done              = make(chan *Schedule)
			begin             = time.Now()
		)
		go func() {
			_, s := (&openLoop{rate: 1000, events: 6, maxInFlight: 3}).run(context.Background(),
				func(ctx context.Context, n int64, due time.Time) {
					got.record(n, due)
					cur := inFlight.Add(1)
					for m := maxSeen.Load(); cur > m && !maxSeen.CompareAndSwap(m, cur); m = maxSeen.Load() {
					}
					<-release // a server that stalls until the test lets it answer
					inFlight.Add(-1)
				})
			done <- s
		}()
		// Events 1-3 start at 0, 1 and 2ms; event 4, due at 3ms, waits for a
		// slot while the server stalls. In the bubble this Sleep waits for
		// nothing: it returns once everything else is blocked, the clock
		// moved on by 50ms.
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		if n := len(got.due); n != 3 || inFlight.Load() != 3 {
			t.Fatalf("%d started, %d in flight during the stall; want 3 and 3", n, inFlight.Load())
		}
		for range 6 {
			release <- struct{}{}
			synctest.Wait() // the loop has started the next event, or waits for a slot again
		}
		s := <-done
		if maxSeen.Load() != 3 {
			t.Errorf("at most %d in flight, want 3", maxSeen.Load())
		}
		for n := int64(4); n <= 6; n++ {
			wantDue := begin.Add(time.Duration(n-1) * time.Millisecond)
			if !got.due[n].Equal(wantDue) || got.sent[n].Sub(begin) != 50*time.Millisecond {
				t.Errorf("event %d due %v and sent %v after begin, want due %v and sent at 50ms",
					n, got.due[n].Sub(begin), got.sent[n].Sub(begin), wantDue.Sub(begin))
			}
		}
		want := Schedule{Rate: 1000, MaxInFlight: 3, Started: 6, LateStarts: 3, MaxLag: 47 * time.Millisecond, Saturated: 3}
		if *s != want || !s.FellBehind() {
			t.Errorf("schedule %+v, want %+v", *s, want)
		}
	})
}

// Cancelling stops the schedule: no event starts after it, and run returns
// once those in flight have.
func TestOpenLoopStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var started atomic.Int64
		_, s := (&openLoop{rate: 100, events: 1000, maxInFlight: 10}).run(ctx,
			func(ctx context.Context, n int64, due time.Time) {
				if started.Add(1) == 5 {
					cancel()
				}
				<-ctx.Done()
			})
		if started.Load() != 5 || s.Started != 5 {
			t.Errorf("%d started (schedule says %d), want 5: none after cancelling", started.Load(), s.Started)
		}
	})
}

func TestClosedLoopSendsEveryEventOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[int64]int{}
	closedLoop(context.Background(), 7, 100, func(ctx context.Context, n int64, start time.Time) {
		mu.Lock()
		defer mu.Unlock()
		seen[n]++
	})
	if len(seen) != 100 {
		t.Fatalf("%d distinct events sent, want 100", len(seen))
	}
	for n := int64(1); n <= 100; n++ {
		if seen[n] != 1 {
			t.Errorf("event %d sent %d times, want once", n, seen[n])
		}
	}
}
