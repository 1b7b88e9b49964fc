package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Percentiles summarises a latency distribution.
type Percentiles struct{ P50, P95, P99, Max time.Duration }

// percentiles returns the nearest-rank percentiles of samples, sorting them
// in place. No samples give the zero Percentiles.
func percentiles(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	slices.Sort(samples)
	return Percentiles{
		P50: nearestRank(samples, 50),
		P95: nearestRank(samples, 95),
		P99: nearestRank(samples, 99),
		Max: samples[len(samples)-1],
	}
}

// nearestRank returns the smallest sample that at least p percent of sorted
// are less than or equal to.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// formatDuration prints a latency with about three significant digits.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// formatRate prints events a second rounded to a whole number, its
// thousands separated by commas.
func formatRate(r float64) string {
	digits := strconv.FormatInt(int64(math.Round(r)), 10)
	out := make([]byte, 0, len(digits)+len(digits)/3)
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 && digits[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, digits[i])
	}
	return string(out)
}

// formatRatio prints a ratio to the baseline, such as "0.21×".
func formatRatio(r float64) string { return fmt.Sprintf("%.2f×", r) }

// formatBytes prints a memory size in MiB, or "n/a" when unknown.
func formatBytes(n int64) string {
	if n <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
