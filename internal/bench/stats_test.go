package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	tests := []struct {
		name    string
		samples []time.Duration
		want    Percentiles
	}{
		{"none", nil, Percentiles{}},
		{"one", ms(7), Percentiles{7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond}},
		{"1 to 100", ms(hundred...), Percentiles{50 * time.Millisecond, 95 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}},
		{"ten", ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5), Percentiles{5 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}},
		{"outlier", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1000), Percentiles{time.Millisecond, time.Millisecond, 1000 * time.Millisecond, 1000 * time.Millisecond}},
	}
	for _, tt := range tests {
		if got := percentiles(tt.samples); got != tt.want {
			t.Errorf("%s: percentiles = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                        "0µs",
		850 * time.Microsecond:   "850µs",
		12345 * time.Microsecond: "12.3ms",
		2500 * time.Millisecond:  "2.50s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	t.Parallel()
	for r, want := range map[float64]string{
		0: "0", 999.4: "999", 999.5: "1,000", 26700: "26,700", 1234567.8: "1,234,568",
	} {
		if got := formatRate(r); got != want {
			t.Errorf("formatRate(%v) = %q, want %q", r, got, want)
		}
	}
}

func TestWriteTableWithoutErrors(t *testing.T) {
	t.Parallel()
	o, err := Options{URL: "http://127.0.0.1:1", Events: 10}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{Options: o, Sluice: &Result{Sent: 10, Accepted: 10, Delivery: &Delivery{Delivered: 10}, ErrorsByClass: map[string]int{}}}
	var b strings.Builder
	r.WriteTable(&b)
	if strings.Contains(b.String(), "error class") || strings.Contains(b.String(), "missing") {
		t.Errorf("table of a clean run shows errors:\n%s", b.String())
	}
}

// Sluice's rates read as ratios of the baseline's accepted rate, and the
// errors of both are tabled side by side.
func TestWriteTableAgainstBaseline(t *testing.T) {
	t.Parallel()
	o, err := Options{URL: "http://127.0.0.1:1", Events: 100}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	r := &Report{
		Options: o,
		Sluice: &Result{Sent: 100, Accepted: 99, Errors: 1, ErrorsByClass: map[string]int{"timeout": 1}, AcceptedPerSec: 5600,
			Delivery: &Delivery{Delivered: 99, PerSec: 2670}, CPU: 99 * 250 * time.Microsecond},
		Baseline: &Result{Sent: 100, Accepted: 98, Errors: 2, ErrorsByClass: map[string]int{"connect": 2}, AcceptedPerSec: 26700,
			CPU: 98 * 50 * time.Microsecond},
		RSSScope: rssScope(true),
	}
	var b strings.Builder
	r.WriteTable(&b)
	out := b.String()
	for _, want := range []string{
		"5,600 ev/s (0.21× baseline 26,700)",
		"2,670 ev/s end to end (0.10× baseline 26,700)",
		"error class  baseline  sluice",
		"connect      2         0",
		"timeout      0         1",
		"(bench process with the in-process gateway)",
		"cpu/event   baseline 50µs, sluice 250µs (bench process with the in-process gateway)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// The CPU time is shared among the events carried through: delivered where
// deliveries are awaited, accepted otherwise; none without a CPU time or an
// event.
func TestCPUPerEvent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		r    Result
		want time.Duration
		ok   bool
	}{
		{"accepted", Result{Accepted: 4, CPU: 400 * time.Microsecond}, 100 * time.Microsecond, true},
		{"delivered", Result{Accepted: 4, Delivery: &Delivery{Delivered: 2}, CPU: 400 * time.Microsecond}, 200 * time.Microsecond, true},
		{"unknown CPU", Result{Accepted: 4}, 0, false},
		{"nothing accepted", Result{CPU: time.Millisecond}, 0, false},
		{"nothing delivered", Result{Accepted: 4, Delivery: &Delivery{}, CPU: time.Millisecond}, 0, false},
	} {
		if got, ok := c.r.CPUPerEvent(); got != c.want || ok != c.ok {
			t.Errorf("%s: CPUPerEvent() = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
