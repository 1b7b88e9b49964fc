package api

import (
	"testing"
	"time"
)

// A key gets a burst of one second's worth, then one request per interval;
// keys do not share allowance; the wait says when the next one fits.
func TestKeyedLimiter(t *testing.T) {
	t.Parallel()
	var l keyedLimiter
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if ok, _ := l.allow("a", 10, now); !ok {
			t.Fatalf("request %d of a burst of 10 refused", i+1)
		}
	}
	ok, wait := l.allow("a", 10, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("11th request: ok %v, wait %s; want refused for 100ms", ok, wait)
	}
	if ok, _ := l.allow("b", 10, now); !ok {
		t.Fatal("another key was refused")
	}
	if ok, _ := l.allow("a", 10, now.Add(99*time.Millisecond)); ok {
		t.Fatal("admitted before the interval passed")
	}
	if ok, _ := l.allow("a", 10, now.Add(100*time.Millisecond)); !ok {
		t.Fatal("refused after the interval passed")
	}
	if ok, _ := l.allow("a", 10, now.Add(time.Hour)); !ok {
		t.Fatal("refused after a long pause")
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {90 * time.Second, 90}} {
		if got := retryAfterSeconds(tt.wait); got != tt.want {
			t.Errorf("retryAfterSeconds(%s) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}
