package api

import (
	"sync"
	"time"
)

// keyedLimiter limits requests per key (a source id) to a rate a second,
// allowing a burst of one second's worth. It is the generic cell rate
// algorithm: each key keeps only the time its next request is due.
type keyedLimiter struct {
	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time of each key's next request
}

// sweepAbove is the map size past which stale keys are dropped.
const sweepAbove = 4096

// allow reports whether a request for key at now fits within rate a second;
// if not, it also returns how long until one would.
func (l *keyedLimiter) allow(key string, rate int, now time.Time) (bool, time.Duration) {
	interval := time.Second / time.Duration(rate)
	tolerance := time.Second - interval // a burst of rate requests
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tat == nil {
		l.tat = make(map[string]time.Time)
	}
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	if ahead := tat.Sub(now); ahead > tolerance {
		return false, ahead - tolerance
	}
	l.tat[key] = tat.Add(interval)
	if len(l.tat) > sweepAbove {
		for k, t := range l.tat {
			if t.Before(now) {
				delete(l.tat, k)
			}
		}
	}
	return true, 0
}

// retryAfterSeconds is a wait as Retry-After seconds: rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) int {
	return max(1, int((wait+time.Second-1)/time.Second))
}
