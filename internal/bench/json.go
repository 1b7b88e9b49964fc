package bench

import (
	"encoding/json"
	"io"
	"time"
)

// reportJSON is the --json document. Its shape is the same in every
// scenario: a figure that was not measured is null rather than missing.
type reportJSON struct {
	Scenario      Scenario    `json:"scenario"`
	Gateway       string      `json:"gateway"`
	Options       optionsJSON `json:"options"`
	Sluice        resultJSON  `json:"sluice"`
	Baseline      *resultJSON `json:"baseline"`
	Subjects      *resultJSON `json:"subjects"`       // null without the subjects phase
	SubjectDomain *string     `json:"subject_domain"` // of its addresses; null without it
	Ratios        ratiosJSON  `json:"ratios"`
	PeakRSSScope  string      `json:"peak_rss_scope"`
}

type optionsJSON struct {
	Load         string  `json:"load"` // "closed" or "open"
	Events       int     `json:"events"`
	Concurrency  int     `json:"concurrency"`   // closed loop; 0 in an open one
	Rate         float64 `json:"rate"`          // open loop; 0 in a closed one
	MaxInFlight  int     `json:"max_in_flight"` // open loop; 0 in a closed one
	PayloadBytes int     `json:"payload_bytes"`
	TimeoutMS    float64 `json:"timeout_ms"`
	Baseline     bool    `json:"baseline"`
	Subjects     bool    `json:"subjects"`
	SubjectPool  int     `json:"subject_pool"` // 0: a new data subject an event
}

type resultJSON struct {
	Sent           int             `json:"sent"`
	Accepted       int             `json:"accepted"`
	Errors         int             `json:"errors"`
	ErrorsByClass  map[string]int  `json:"errors_by_class"`
	DurationMS     float64         `json:"duration_ms"`
	AcceptedPerSec float64         `json:"accepted_per_sec"`
	AckLatencyMS   percentilesJSON `json:"ack_latency_ms"`

	// Null where deliveries are not awaited.
	Delivered       *int             `json:"delivered"`
	Duplicates      *int             `json:"duplicates"`
	E2EDurationMS   *float64         `json:"e2e_duration_ms"`
	DeliveredPerSec *float64         `json:"delivered_per_sec"`
	E2ELatencyMS    *percentilesJSON `json:"e2e_latency_ms"`

	Schedule     *scheduleJSON `json:"schedule"` // null in a closed loop
	PeakRSSBytes *int64        `json:"peak_rss_bytes"`
	// The CPU time of the peak RSS's process (peak_rss_scope), in all and
	// per event carried through; null where unknown.
	CPUMS         *float64 `json:"cpu_ms"`
	CPUUSPerEvent *float64 `json:"cpu_us_per_event"`
}

type percentilesJSON struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type scheduleJSON struct {
	Started    int     `json:"started"`
	LateStarts int     `json:"late_starts"`
	MaxLagMS   float64 `json:"max_lag_ms"`
	Saturated  int     `json:"saturated"`
	FellBehind bool    `json:"fell_behind"`
}

// ratiosJSON compares Sluice with the baseline's accepted events a second;
// null without a baseline, and delivered also without awaited deliveries.
// The subjects ratios compare the subjects phase with the first Sluice
// phase; null without it.
type ratiosJSON struct {
	AcceptedVsBaseline        *float64 `json:"accepted_vs_baseline"`
	DeliveredVsBaseline       *float64 `json:"delivered_vs_baseline"`
	SubjectsAcceptedVsSluice  *float64 `json:"subjects_accepted_vs_sluice"`
	SubjectsDeliveredVsSluice *float64 `json:"subjects_delivered_vs_sluice"`
}

// WriteJSON writes r as one JSON object on one line: the scenario and
// options, each phase's figures (durations in milliseconds), Sluice's
// ratios to the baseline and the subjects phase's to Sluice's, and whose
// memory the peak RSS is.
func (r *Report) WriteJSON(w io.Writer) error {
	o := &r.Options
	doc := reportJSON{
		Scenario: o.Scenario,
		Gateway:  o.Gateway,
		Options: optionsJSON{Load: "closed", Events: o.Events, Concurrency: o.Concurrency, Rate: o.Rate,
			MaxInFlight: o.MaxInFlight, PayloadBytes: o.PayloadBytes, TimeoutMS: ms(o.Timeout), Baseline: !o.SkipBaseline,
			Subjects: o.Subjects, SubjectPool: o.SubjectPool},
		Sluice:       r.Sluice.json(),
		PeakRSSScope: r.RSSScope,
	}
	if o.openLoop() {
		doc.Options.Load = "open"
	}
	if r.Baseline != nil {
		b := r.Baseline.json()
		doc.Baseline = &b
	}
	if x, ok := r.AcceptedRatio(); ok {
		doc.Ratios.AcceptedVsBaseline = &x
	}
	if x, ok := r.DeliveredRatio(); ok {
		doc.Ratios.DeliveredVsBaseline = &x
	}
	if r.Subjects != nil {
		s := r.Subjects.json()
		doc.Subjects, doc.SubjectDomain = &s, &r.SubjectDomain
	}
	if x, ok := r.SubjectsAcceptedRatio(); ok {
		doc.Ratios.SubjectsAcceptedVsSluice = &x
	}
	if x, ok := r.SubjectsDeliveredRatio(); ok {
		doc.Ratios.SubjectsDeliveredVsSluice = &x
	}
	return json.NewEncoder(w).Encode(doc)
}

func (r *Result) json() resultJSON {
	out := resultJSON{
		Sent: r.Sent, Accepted: r.Accepted, Errors: r.Errors, ErrorsByClass: r.ErrorsByClass,
		DurationMS: ms(r.Duration), AcceptedPerSec: r.AcceptedPerSec, AckLatencyMS: r.AckLatency.json(),
	}
	if out.ErrorsByClass == nil {
		out.ErrorsByClass = map[string]int{}
	}
	if d := r.Delivery; d != nil {
		e2e, perSec, lat := ms(d.Duration), d.PerSec, d.Latency.json()
		out.Delivered, out.Duplicates = &d.Delivered, &d.Duplicates
		out.E2EDurationMS, out.DeliveredPerSec, out.E2ELatencyMS = &e2e, &perSec, &lat
	}
	if s := r.Schedule; s != nil {
		out.Schedule = &scheduleJSON{Started: s.Started, LateStarts: s.LateStarts, MaxLagMS: ms(s.MaxLag),
			Saturated: s.Saturated, FellBehind: s.FellBehind()}
	}
	if r.PeakRSS > 0 {
		out.PeakRSSBytes = &r.PeakRSS
	}
	if r.CPU > 0 {
		cpu := ms(r.CPU)
		out.CPUMS = &cpu
	}
	if per, ok := r.CPUPerEvent(); ok {
		us := float64(per.Nanoseconds()) / 1000
		out.CPUUSPerEvent = &us
	}
	return out
}

func (p Percentiles) json() percentilesJSON {
	return percentilesJSON{P50: ms(p.P50), P95: ms(p.P95), P99: ms(p.P99), Max: ms(p.Max)}
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
