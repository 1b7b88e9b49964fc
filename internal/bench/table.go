package bench

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// scenarioText says what each scenario sends and awaits.
var scenarioText = map[Scenario]string{
	ScenarioPublish: "POST /v1/events; deliveries not awaited",
	ScenarioIngest:  "Stripe-signed POST /in/{source_id}; every delivery awaited",
	ScenarioE2E:     "POST /v1/events; every delivery awaited",
}

// WriteTable writes a human summary of r: the shape of the run, each
// server's counts and throughput with Sluice's as ratios of the baseline's,
// latency percentiles, errors by class, peak RSS and CPU per event.
func (r *Report) WriteTable(w io.Writer) {
	t := &table{w: w, countWidth: len(strconv.Itoa(r.Options.Events)) + 2}
	r.writeShape(t)
	if r.Baseline != nil {
		fmt.Fprintln(w)
		r.writeBaseline(t)
	}
	fmt.Fprintln(w)
	r.writeSluice(t)
	fmt.Fprintln(w)
	r.writeLatency(w)
	if r.Sluice.Errors > 0 || (r.Baseline != nil && r.Baseline.Errors > 0) {
		fmt.Fprintln(w)
		r.writeErrors(w)
	}
	fmt.Fprintln(w)
	r.writeRSS(t)
	r.writeCPU(t)
}

// table writes rows whose columns line up across the table's sections.
type table struct {
	w          io.Writer
	countWidth int // room for the largest count and a gap
}

// labelWidth is room for the longest label, "duplicates", and a gap.
const labelWidth = 12

// line writes a label and text.
func (t *table) line(label, format string, args ...any) {
	fmt.Fprintf(t.w, "%-*s%s\n", labelWidth, label, fmt.Sprintf(format, args...))
}

// count writes a label, a count and text.
func (t *table) count(label string, n int, format string, args ...any) {
	text := strings.TrimRight(fmt.Sprintf("%-*d%s", t.countWidth, n, fmt.Sprintf(format, args...)), " ")
	t.line(label, "%s", text)
}

func (r *Report) writeShape(t *table) {
	o := &r.Options
	t.line("scenario", "%s: %s", o.Scenario, scenarioText[o.Scenario])
	if o.openLoop() {
		t.line("load", "open loop: %s ev/s, at most %d in flight, %d events, %d-byte payloads",
			formatRate(o.Rate), o.MaxInFlight, o.Events, o.PayloadBytes)
	} else {
		t.line("load", "closed loop: %d senders, %d events, %d-byte payloads", o.Concurrency, o.Events, o.PayloadBytes)
	}
}

func (r *Report) writeBaseline(t *table) {
	b := r.Baseline
	t.line("baseline", "bare net/http handler on loopback, same requests")
	t.count("sent", b.Sent, "in %s", formatDuration(b.Duration))
	t.count("accepted", b.Accepted, "%s ev/s", formatRate(b.AcceptedPerSec))
	t.count("errors", b.Errors, "")
	writeSchedule(t, b.Schedule)
}

func (r *Report) writeSluice(t *table) {
	s := r.Sluice
	t.line("sluice", "%s", r.Options.Gateway)
	t.count("sent", s.Sent, "in %s", formatDuration(s.Duration))
	t.count("accepted", s.Accepted, "%s ev/s%s", formatRate(s.AcceptedPerSec), r.versusBaseline(r.AcceptedRatio))
	t.count("errors", s.Errors, "")
	if d := s.Delivery; d != nil {
		t.count("delivered", d.Delivered, "%s ev/s end to end%s, last after %s", formatRate(d.PerSec),
			r.versusBaseline(r.DeliveredRatio), formatDuration(d.Duration))
		t.count("duplicates", d.Duplicates, "")
		if missing := s.Accepted - d.Delivered; missing > 0 {
			t.count("missing", missing, "accepted but not delivered in time")
		}
	} else {
		t.line("delivered", "not awaited (%s scenario)", r.Options.Scenario)
	}
	writeSchedule(t, s.Schedule)
}

// versusBaseline is " (0.21× baseline 26,700)", or "" without a baseline.
func (r *Report) versusBaseline(ratio func() (float64, bool)) string {
	x, ok := ratio()
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (%s baseline %s)", formatRatio(x), formatRate(r.Baseline.AcceptedPerSec))
}

// writeSchedule says whether an open loop kept to its rate.
func writeSchedule(t *table, s *Schedule) {
	if s == nil {
		return
	}
	if !s.FellBehind() {
		t.line("schedule", "kept (latest start %s behind)", formatDuration(s.MaxLag))
		return
	}
	t.line("schedule", "fell behind: %d of %d starts more than %s late, the latest %s; in-flight limit reached %d times",
		s.LateStarts, s.Started, formatDuration(lateAfter), formatDuration(s.MaxLag), s.Saturated)
}

func (r *Report) writeLatency(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "latency\tp50\tp95\tp99\tmax\n")
	row := func(name string, p Percentiles) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name,
			formatDuration(p.P50), formatDuration(p.P95), formatDuration(p.P99), formatDuration(p.Max))
	}
	if r.Baseline != nil {
		row("baseline ack", r.Baseline.AckLatency)
	}
	row("ack", r.Sluice.AckLatency)
	if d := r.Sluice.Delivery; d != nil {
		row("end to end", d.Latency)
	}
}

func (r *Report) writeErrors(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	results := []*Result{r.Sluice}
	header := "error class\tsluice"
	if r.Baseline != nil {
		results = []*Result{r.Baseline, r.Sluice}
		header = "error class\tbaseline\tsluice"
	}
	fmt.Fprintln(tw, header)
	var classes []string
	for _, res := range results {
		for c := range res.ErrorsByClass {
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
	}
	slices.Sort(classes)
	for _, c := range classes {
		counts := make([]string, len(results))
		for i, res := range results {
			counts[i] = fmt.Sprint(res.ErrorsByClass[c])
		}
		fmt.Fprintf(tw, "%s\t%s\n", c, strings.Join(counts, "\t"))
	}
}

// writeCPU writes each phase's CPU time per event carried through, when
// the Sluice phase's is known: on cores the load shares with the servers,
// what an event costs bounds how many a second they carry.
func (r *Report) writeCPU(t *table) {
	sluice, ok := r.Sluice.CPUPerEvent()
	if !ok {
		return
	}
	var parts []string
	if r.Baseline != nil {
		if base, ok := r.Baseline.CPUPerEvent(); ok {
			parts = append(parts, "baseline "+formatDuration(base))
		}
	}
	parts = append(parts, "sluice "+formatDuration(sluice))
	t.line("cpu/event", "%s (%s)", strings.Join(parts, ", "), r.RSSScope)
}

func (r *Report) writeRSS(t *table) {
	var parts []string
	if r.Baseline != nil {
		parts = append(parts, "baseline "+formatBytes(r.Baseline.PeakRSS))
	}
	parts = append(parts, "sluice "+formatBytes(r.Sluice.PeakRSS))
	t.line("peak RSS", "%s (%s)", strings.Join(parts, ", "), r.RSSScope)
}
