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
	Forwarder     *resultJSON `json:"forwarder"`      // null without the forwarder phase
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
	Forwarder    bool    `json:"forwarder"`
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
	Strays          *int             `json:"strays"`
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
// The forwarder_*_vs_baseline ratios do the same for the forwarder. The
// *_vs_forwarder ratios compare Sluice with the forwarder: its rates as
// shares of the forwarder's, its median latencies as multiples; null
// without the forwarder, and the delivered and e2e ones also without
// awaited deliveries. The subjects ratios compare the subjects phase with
// the first Sluice phase; null without it.
type ratiosJSON struct {
	AcceptedVsBaseline           *float64 `json:"accepted_vs_baseline"`
	DeliveredVsBaseline          *float64 `json:"delivered_vs_baseline"`
	SubjectsAcceptedVsSluice     *float64 `json:"subjects_accepted_vs_sluice"`
	SubjectsDeliveredVsSluice    *float64 `json:"subjects_delivered_vs_sluice"`
	ForwarderAcceptedVsBaseline  *float64 `json:"forwarder_accepted_vs_baseline"`
	ForwarderDeliveredVsBaseline *float64 `json:"forwarder_delivered_vs_baseline"`
	AcceptedVsForwarder          *float64 `json:"accepted_vs_forwarder"`
	DeliveredVsForwarder         *float64 `json:"delivered_vs_forwarder"`
	AckP50VsForwarder            *float64 `json:"ack_p50_vs_forwarder"`
	E2EP50VsForwarder            *float64 `json:"e2e_p50_vs_forwarder"`
}

// WriteJSON writes r as one JSON object on one line: the scenario and
// options, each phase's figures (durations in milliseconds), Sluice's and
// the forwarder's ratios to the baseline, Sluice's to the forwarder and
// the subjects phase's to Sluice's, and whose memory the peak RSS is.
func (r *Report) WriteJSON(w io.Writer) error {
	o := &r.Options
	doc := reportJSON{
		Scenario: o.Scenario,
		Gateway:  o.Gateway,
		Options: optionsJSON{Load: "closed", Events: o.Events, Concurrency: o.Concurrency, Rate: o.Rate,
			MaxInFlight: o.MaxInFlight, PayloadBytes: o.PayloadBytes, TimeoutMS: ms(o.Timeout), Baseline: !o.SkipBaseline,
			Forwarder: !o.SkipForwarder, Subjects: o.Subjects, SubjectPool: o.SubjectPool},
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
	if r.Forwarder != nil {
		f := r.Forwarder.json()
		doc.Forwarder = &f
	}
	for _, rt := range []struct {
		to    **float64
		ratio func() (float64, bool)
	}{
		{&doc.Ratios.AcceptedVsBaseline, r.AcceptedRatio},
		{&doc.Ratios.DeliveredVsBaseline, r.DeliveredRatio},
		{&doc.Ratios.ForwarderAcceptedVsBaseline, r.ForwarderAcceptedRatio},
		{&doc.Ratios.ForwarderDeliveredVsBaseline, r.ForwarderDeliveredRatio},
		{&doc.Ratios.AcceptedVsForwarder, r.AcceptedVsForwarder},
		{&doc.Ratios.DeliveredVsForwarder, r.DeliveredVsForwarder},
		{&doc.Ratios.AckP50VsForwarder, r.AckP50VsForwarder},
		{&doc.Ratios.E2EP50VsForwarder, r.E2EP50VsForwarder},
		{&doc.Ratios.SubjectsAcceptedVsSluice, r.SubjectsAcceptedRatio},
		{&doc.Ratios.SubjectsDeliveredVsSluice, r.SubjectsDeliveredRatio},
	} {
		if x, ok := rt.ratio(); ok {
			*rt.to = &x
		}
	}
	if r.Subjects != nil {
		s := r.Subjects.json()
		doc.Subjects, doc.SubjectDomain = &s, &r.SubjectDomain
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
		out.Delivered, out.Duplicates, out.Strays = &d.Delivered, &d.Duplicates, &d.Strays
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
