package deliver

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// jitter is the spread applied to every scheduled delay: ±20 %, so that the
// retries of many deliveries that failed together do not return together.
const jitter = 0.2

// maxRetryAfter caps how long a destination's Retry-After may hold a delivery
// back. A longer value is shortened to it, not ignored.
const maxRetryAfter = time.Hour

// NextDelay returns the delay before the next attempt of a delivery that has
// had attemptsDone attempts: schedule[attemptsDone] scaled by a factor in
// [0.8, 1.2) drawn from rnd (which returns values in [0, 1); nil means
// math/rand/v2.Float64). It reports false when the schedule is used up: the
// delivery has had every attempt it gets.
//
// schedule[0] is the delay before the first attempt, which the store applies
// when it creates deliveries.
func NextDelay(schedule []time.Duration, attemptsDone int, rnd func() float64) (time.Duration, bool) {
	if attemptsDone < 0 || attemptsDone >= len(schedule) {
		return 0, false
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	factor := 1 - jitter + 2*jitter*rnd()
	return time.Duration(float64(schedule[attemptsDone]) * factor), true
}

// parseRetryAfter reads a Retry-After header value, either delay-seconds or
// an HTTP date, as a delay from now capped at maxRetryAfter. A date in the
// past is a zero delay. It reports false for an absent or malformed value.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			// Only digits, so err is out of range: a very long delay.
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(at.Sub(now), 0), maxRetryAfter), true
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
