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
// server's counts and throughput with the forwarder's as ratios of the
// baseline's, Sluice's as ratios of the baseline's and of the forwarder's
// (and the subjects phase's as ratios of Sluice's), latency percentiles
// with Sluice's medians as multiples of the forwarder's, errors by class,
// peak RSS and CPU per event.
func (r *Report) WriteTable(w io.Writer) {
	t := &table{w: w, countWidth: len(strconv.Itoa(r.Options.Events)) + 2}
	r.writeShape(t)
	if r.Baseline != nil {
		fmt.Fprintln(w)
		r.writeBaseline(t)
	}
	if r.Forwarder != nil {
		fmt.Fprintln(w)
		r.writeForwarder(t)
	}
	fmt.Fprintln(w)
	r.writeSluice(t)
	if r.Subjects != nil {
		fmt.Fprintln(w)
		r.writeSubjects(t)
	}
	fmt.Fprintln(w)
	r.writeLatency(w)
	if slices.ContainsFunc(r.phases(), func(p phaseResult) bool { return p.res.Errors > 0 }) {
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

// writeForwarder writes the forwarder's phase, its rates as ratios of the
// baseline's.
func (r *Report) writeForwarder(t *table) {
	t.line("forwarder", "keeps nothing: answers at once, %d workers deliver over keep-alive net/http; same requests",
		forwarderWorkers)
	r.writeGateway(t, r.Forwarder, versus(r.versusBaseline(r.ForwarderAcceptedRatio)),
		versus(r.versusBaseline(r.ForwarderDeliveredRatio)))
}

func (r *Report) writeSluice(t *table) {
	t.line("sluice", "%s", r.Options.Gateway)
	var fwAccepted, fwDelivered float64
	if f := r.Forwarder; f != nil {
		fwAccepted = f.AcceptedPerSec
		if f.Delivery != nil {
			fwDelivered = f.Delivery.PerSec
		}
	}
	r.writeGateway(t, r.Sluice,
		versus(r.versusBaseline(r.AcceptedRatio), versusForwarder(r.AcceptedVsForwarder, fwAccepted)),
		versus(r.versusBaseline(r.DeliveredRatio), versusForwarder(r.DeliveredVsForwarder, fwDelivered)))
}

// writeSubjects writes the subjects phase, its rates as ratios of the
// first Sluice phase's.
func (r *Report) writeSubjects(t *table) {
	who := "a new data subject an event"
	if n := r.Options.SubjectPool; n > 0 {
		who = fmt.Sprintf("drawn from %d customers", n)
	}
	t.line("subjects", "sluice, an email in every payload (customer-<n>@%s), %s", r.SubjectDomain, who)
	r.writeGateway(t, r.Subjects, versus(versusSluice(r.SubjectsAcceptedRatio)),
		versus(versusSluice(r.SubjectsDeliveredRatio)))
}

// writeGateway writes the counts and rates of a phase against the gateway,
// each rate followed by its comparison.
func (r *Report) writeGateway(t *table, s *Result, acceptedVs, deliveredVs string) {
	t.count("sent", s.Sent, "in %s", formatDuration(s.Duration))
	t.count("accepted", s.Accepted, "%s ev/s%s", formatRate(s.AcceptedPerSec), acceptedVs)
	t.count("errors", s.Errors, "")
	if d := s.Delivery; d != nil {
		t.count("delivered", d.Delivered, "%s ev/s end to end%s, last after %s", formatRate(d.PerSec),
			deliveredVs, formatDuration(d.Duration))
		t.count("duplicates", d.Duplicates, "")
		if missing := s.Accepted - d.Delivered; missing > 0 {
			t.count("missing", missing, "accepted but not delivered in time")
		}
		if d.Strays > 0 {
			t.count("strays", d.Strays, "arrived but not accepted in this run")
		}
	} else {
		t.line("delivered", "not awaited (%s scenario)", r.Options.Scenario)
	}
	writeSchedule(t, s.Schedule)
}

// versus is the comparisons given, " (0.21× baseline 26,700; 0.43×
// forwarder 13,100)", leaving out the empty ones; "" when all are.
func versus(comparisons ...string) string {
	comparisons = slices.DeleteFunc(comparisons, func(c string) bool { return c == "" })
	if len(comparisons) == 0 {
		return ""
	}
	return " (" + strings.Join(comparisons, "; ") + ")"
}

// versusBaseline is "0.21× baseline 26,700", or "" without a baseline.
func (r *Report) versusBaseline(ratio func() (float64, bool)) string {
	x, ok := ratio()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s baseline %s", formatRatio(x), formatRate(r.Baseline.AcceptedPerSec))
}

// versusForwarder is "0.43× forwarder 13,100", the forwarder's rate being
// rate, or "" without the ratio.
func versusForwarder(ratio func() (float64, bool), rate float64) string {
	x, ok := ratio()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s forwarder %s", formatRatio(x), formatRate(rate))
}

// versusSluice is "0.91× without subjects", or "" without the ratio.
func versusSluice(ratio func() (float64, bool)) string {
	x, ok := ratio()
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s without subjects", formatRatio(x))
}

// phaseResult is a phase's result with the name the tables give it.
type phaseResult struct {
	name string
	res  *Result
}

// phases lists the phases that ran, in order.
func (r *Report) phases() []phaseResult {
	var out []phaseResult
	if r.Baseline != nil {
		out = append(out, phaseResult{"baseline", r.Baseline})
	}
	if r.Forwarder != nil {
		out = append(out, phaseResult{"forwarder", r.Forwarder})
	}
	out = append(out, phaseResult{"sluice", r.Sluice})
	if r.Subjects != nil {
		out = append(out, phaseResult{"subjects", r.Subjects})
	}
	return out
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

// writeLatency writes each phase's percentiles and, with a forwarder,
// Sluice's medians as multiples of the forwarder's.
func (r *Report) writeLatency(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	header := "latency\tp50\tp95\tp99\tmax"
	if r.Forwarder != nil {
		header += "\tp50 vs forwarder"
	}
	fmt.Fprintln(tw, header)
	row := func(name string, p Percentiles, vs ...func() (float64, bool)) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s", name,
			formatDuration(p.P50), formatDuration(p.P95), formatDuration(p.P99), formatDuration(p.Max))
		for _, ratio := range vs {
			if x, ok := ratio(); ok {
				fmt.Fprintf(tw, "\t%s", formatRatio(x))
			}
		}
		fmt.Fprintln(tw)
	}
	if r.Baseline != nil {
		row("baseline ack", r.Baseline.AckLatency)
	}
	if f := r.Forwarder; f != nil {
		row("forwarder ack", f.AckLatency)
		if d := f.Delivery; d != nil {
			row("forwarder end to end", d.Latency)
		}
	}
	row("ack", r.Sluice.AckLatency, r.AckP50VsForwarder)
	if d := r.Sluice.Delivery; d != nil {
		row("end to end", d.Latency, r.E2EP50VsForwarder)
	}
	if s := r.Subjects; s != nil {
		row("subjects ack", s.AckLatency)
		if d := s.Delivery; d != nil {
			row("subjects end to end", d.Latency)
		}
	}
}

func (r *Report) writeErrors(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	phases := r.phases()
	header := "error class"
	var classes []string
	for _, p := range phases {
		header += "\t" + p.name
		for c := range p.res.ErrorsByClass {
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
	}
	fmt.Fprintln(tw, header)
	slices.Sort(classes)
	for _, c := range classes {
		counts := make([]string, len(phases))
		for i, p := range phases {
			counts[i] = fmt.Sprint(p.res.ErrorsByClass[c])
		}
		fmt.Fprintf(tw, "%s\t%s\n", c, strings.Join(counts, "\t"))
	}
}

// writeCPU writes each phase's CPU time per event carried through, when
// the Sluice phase's is known: on cores the load shares with the servers,
// what an event costs bounds how many a second they carry.
func (r *Report) writeCPU(t *table) {
	if _, ok := r.Sluice.CPUPerEvent(); !ok {
		return
	}
	var parts []string
	for _, p := range r.phases() {
		if per, ok := p.res.CPUPerEvent(); ok {
			parts = append(parts, p.name+" "+formatDuration(per))
		}
	}
	t.line("cpu/event", "%s (%s)", strings.Join(parts, ", "), r.RSSScope)
}

func (r *Report) writeRSS(t *table) {
	var parts []string
	for _, p := range r.phases() {
		parts = append(parts, p.name+" "+formatBytes(p.res.PeakRSS))
	}
	t.line("peak RSS", "%s (%s)", strings.Join(parts, ", "), r.RSSScope)
}
