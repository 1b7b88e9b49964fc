package bench

import "time"

// Report is what a Run measured: the gateway's figures and, unless skipped,
// the baseline's and the forwarder's under the same load.
type Report struct {
	Options  Options // as run, defaults filled in
	Sluice   *Result
	Baseline *Result // nil with Options.SkipBaseline
	// Forwarder is the figures of a gateway that keeps nothing, the
	// ceiling Sluice's are read against; nil with Options.SkipForwarder.
	Forwarder *Result
	// Subjects is the gateway's figures under the same load again, an email
	// address of its own in every payload; nil without Options.Subjects.
	Subjects *Result
	// SubjectDomain is the domain of the subjects phase's addresses:
	// event n's is customer-<n>@SubjectDomain. Empty without that phase.
	SubjectDomain string
	RSSScope      string // whose memory the peak RSS figures are
}

// Result is what one phase of a run measured against one server.
type Result struct {
	Sent     int // requests answered or failed: Accepted + Errors
	Accepted int // answered 2xx with an event id
	Errors   int // failed requests, by class in ErrorsByClass
	// ErrorsByClass counts failed requests: "http_<status>", "timeout",
	// "connect", "sign" or "other".
	ErrorsByClass map[string]int

	Duration       time.Duration // load began to the last answer
	AcceptedPerSec float64
	// AckLatency runs from a request's start to its answer; in an open loop
	// it starts when the request was due, which may be before it was sent.
	AckLatency Percentiles

	// Delivery is nil where deliveries are not awaited: the baseline and
	// the publish scenario (the forwarder's too).
	Delivery *Delivery
	// Schedule is how an open-loop run kept to its rate; nil in a closed
	// loop.
	Schedule *Schedule
	// PeakRSS is the process's peak resident set size during the phase in
	// bytes (the process's peak so far where the kernel cannot reset it);
	// 0 when unknown.
	PeakRSS int64
	// CPU is the CPU time, user and system, the process used from the
	// load's start to the end of the phase (its last delivery, where
	// deliveries are awaited); 0 when unknown. Its scope is the peak RSS's.
	CPU time.Duration
}

// CPUPerEvent is r.CPU shared among the events the phase carried through:
// delivered where deliveries are awaited, accepted otherwise. It is false
// when the CPU time is unknown or no event got through.
func (r *Result) CPUPerEvent() (time.Duration, bool) {
	n := r.Accepted
	if r.Delivery != nil {
		n = r.Delivery.Delivered
	}
	if r.CPU <= 0 || n == 0 {
		return 0, false
	}
	return r.CPU / time.Duration(n), true
}

// Delivery is what the receiver saw of the accepted events.
type Delivery struct {
	Delivered int // accepted events that arrived
	// Duplicates counts repeated deliveries of an event (at-least-once
	// delivery allows them; receivers dedupe on webhook-id).
	Duplicates int
	// Strays counts events that arrived but were not accepted in this
	// phase: another run's, or events the gateway should not have sent
	// to the bench destination.
	Strays   int
	Duration time.Duration // load began to the last event's first arrival
	PerSec   float64
	Latency  Percentiles // request start (or due time) to the event's first arrival
}

// AcceptedRatio is Sluice's accepted events a second as a share of the
// baseline's; false without a baseline that accepted any.
func (r *Report) AcceptedRatio() (float64, bool) {
	return r.ratio(r.Sluice.AcceptedPerSec)
}

// DeliveredRatio is Sluice's delivered events a second as a share of the
// baseline's accepted events a second (the baseline delivers nothing; what
// it accepts is the most HTTP can carry); false without a baseline or
// without awaited deliveries.
func (r *Report) DeliveredRatio() (float64, bool) {
	if r.Sluice.Delivery == nil {
		return 0, false
	}
	return r.ratio(r.Sluice.Delivery.PerSec)
}

func (r *Report) ratio(perSec float64) (float64, bool) {
	if r.Baseline == nil || r.Baseline.AcceptedPerSec <= 0 {
		return 0, false
	}
	return perSec / r.Baseline.AcceptedPerSec, true
}

// ForwarderAcceptedRatio is the forwarder's accepted events a second as a
// share of the baseline's; false without either.
func (r *Report) ForwarderAcceptedRatio() (float64, bool) {
	if r.Forwarder == nil {
		return 0, false
	}
	return r.ratio(r.Forwarder.AcceptedPerSec)
}

// ForwarderDeliveredRatio is the forwarder's delivered events a second as a
// share of the baseline's accepted events a second; false without either
// or without awaited deliveries.
func (r *Report) ForwarderDeliveredRatio() (float64, bool) {
	if r.Forwarder == nil || r.Forwarder.Delivery == nil {
		return 0, false
	}
	return r.ratio(r.Forwarder.Delivery.PerSec)
}

// AcceptedVsForwarder is Sluice's accepted events a second as a share of
// the forwarder's, the share of the ceiling Sluice reaches; false without a
// forwarder that accepted any.
func (r *Report) AcceptedVsForwarder() (float64, bool) {
	if r.Forwarder == nil {
		return 0, false
	}
	return share(r.Sluice.AcceptedPerSec, r.Forwarder.AcceptedPerSec)
}

// DeliveredVsForwarder is Sluice's delivered events a second as a share of
// the forwarder's; false without a forwarder that delivered any or without
// awaited deliveries.
func (r *Report) DeliveredVsForwarder() (float64, bool) {
	if r.Forwarder == nil || r.Forwarder.Delivery == nil || r.Sluice.Delivery == nil {
		return 0, false
	}
	return share(r.Sluice.Delivery.PerSec, r.Forwarder.Delivery.PerSec)
}

// AckP50VsForwarder is Sluice's median ack latency as a multiple of the
// forwarder's: above 1, Sluice answers slower. False without a forwarder
// that accepted any.
func (r *Report) AckP50VsForwarder() (float64, bool) {
	if r.Forwarder == nil {
		return 0, false
	}
	return share(float64(r.Sluice.AckLatency.P50), float64(r.Forwarder.AckLatency.P50))
}

// E2EP50VsForwarder is Sluice's median end-to-end latency as a multiple of
// the forwarder's; false without a forwarder that delivered any or without
// awaited deliveries.
func (r *Report) E2EP50VsForwarder() (float64, bool) {
	if r.Forwarder == nil || r.Forwarder.Delivery == nil || r.Sluice.Delivery == nil {
		return 0, false
	}
	return share(float64(r.Sluice.Delivery.Latency.P50), float64(r.Forwarder.Delivery.Latency.P50))
}

// share is x / of, false when of is not positive.
func share(x, of float64) (float64, bool) {
	if of <= 0 {
		return 0, false
	}
	return x / of, true
}

// SubjectsAcceptedRatio is the subjects phase's accepted events a second as
// a share of the first Sluice phase's; false without a subjects phase or
// when the first accepted none.
func (r *Report) SubjectsAcceptedRatio() (float64, bool) {
	if r.Subjects == nil || r.Sluice.AcceptedPerSec <= 0 {
		return 0, false
	}
	return r.Subjects.AcceptedPerSec / r.Sluice.AcceptedPerSec, true
}

// SubjectsDeliveredRatio is the subjects phase's delivered events a second
// as a share of the first Sluice phase's; false without a subjects phase,
// without awaited deliveries, or when the first delivered none.
func (r *Report) SubjectsDeliveredRatio() (float64, bool) {
	if r.Subjects == nil || r.Subjects.Delivery == nil || r.Sluice.Delivery == nil || r.Sluice.Delivery.PerSec <= 0 {
		return 0, false
	}
	return r.Subjects.Delivery.PerSec / r.Sluice.Delivery.PerSec, true
}
