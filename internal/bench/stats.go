package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
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

// WriteTable writes a human summary of r: counts, throughput, latency
// percentiles and errors by class.
func (r *Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "published\t%d\tevents in %s\n", r.Published, formatDuration(r.PublishDuration))
	fmt.Fprintf(tw, "accepted\t%d\t%s events/s\n", r.Accepted, formatRate(r.AcceptedPerSec))
	fmt.Fprintf(tw, "errors\t%d\n", r.Errors)
	fmt.Fprintf(tw, "delivered\t%d\t%s events/s end to end, last after %s\n", r.Delivered, formatRate(r.DeliveredPerSec), formatDuration(r.E2EDuration))
	fmt.Fprintf(tw, "duplicates\t%d\n", r.Duplicates)
	if missing := r.Accepted - r.Delivered; missing > 0 {
		fmt.Fprintf(tw, "missing\t%d\taccepted but not delivered in time\n", missing)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "latency\tp50\tp95\tp99\tmax\n")
	for _, row := range []struct {
		name string
		p    Percentiles
	}{{"ack", r.AckLatency}, {"end to end", r.E2ELatency}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", row.name,
			formatDuration(row.p.P50), formatDuration(row.p.P95), formatDuration(row.p.P99), formatDuration(row.p.Max))
	}
	tw.Flush()

	if len(r.ErrorsByClass) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "error class\tcount\n")
	classes := make([]string, 0, len(r.ErrorsByClass))
	for c := range r.ErrorsByClass {
		classes = append(classes, c)
	}
	slices.Sort(classes)
	for _, c := range classes {
		fmt.Fprintf(tw, "%s\t%d\n", c, r.ErrorsByClass[c])
	}
	tw.Flush()
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

func formatRate(r float64) string { return fmt.Sprintf("%.0f", r) }
