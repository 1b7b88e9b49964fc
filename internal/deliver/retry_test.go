package deliver

import (
	"math/rand/v2"
	"net/http"
	"testing"
	"time"
)

func TestNextDelay(t *testing.T) {
	t.Parallel()
	schedule := []time.Duration{0, 5 * time.Second, 5 * time.Minute}
	for _, tc := range []struct {
		done int
		rnd  float64
		want time.Duration
	}{
		{0, 0.5, 0},
		{1, 0.5, 5 * time.Second},
		{1, 0, 4 * time.Second}, // -20 %
		{1, 1, 6 * time.Second}, // +20 %, the open bound
		{2, 0.25, 270 * time.Second},
	} {
		got, ok := NextDelay(schedule, tc.done, func() float64 { return tc.rnd })
		if !ok || got != tc.want {
			t.Errorf("NextDelay(%d, rnd %v) = %s, %v; want %s, true", tc.done, tc.rnd, got, ok, tc.want)
		}
	}
	for _, done := range []int{3, 4, -1} {
		if got, ok := NextDelay(schedule, done, nil); ok {
			t.Errorf("NextDelay after %d attempts = %s, true; want the schedule used up", done, got)
		}
	}
	for range 1000 {
		got, ok := NextDelay(schedule, 2, rand.Float64)
		if !ok || got < 4*time.Minute || got >= 6*time.Minute {
			t.Fatalf("NextDelay(5m) = %s, %v: outside ±20 %%", got, ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"3600", time.Hour, true},
		{"7200", time.Hour, true}, // capped at one hour
		{"99999999999999999999999", time.Hour, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(3 * time.Hour).Format(http.TimeFormat), time.Hour, true},
		{"Sun, 01 Jun 2025 12:00:45 GMT", 45 * time.Second, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := parseRetryAfter(tc.value, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tc.value, got, ok, tc.want, tc.ok)
		}
	}
}
