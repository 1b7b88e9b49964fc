package engine

import (
	"cmp"
	"time"

	"github.com/sluicehq/sluice"
)

// Health is the circuit breaker's policy, applied to a destination as each
// of its attempts is recorded, atomically with the other attempts recorded
// at the same time.
//
// After OpenAfter consecutive failed attempts the circuit opens: the
// destination is paused for Pause. When the pause ends one delivery goes
// as a probe; its failure pauses the destination again for twice the last
// pause (at most MaxPause), its success closes the circuit. Failures of
// attempts that started before the circuit last opened do not lengthen the
// pause. A destination whose failures began DisableAfter or longer ago, with
// no success since, is disabled (DisabledFailing) at its next failure.
type Health struct {
	OpenAfter    int           // 0: never pause
	Pause        time.Duration // the first pause
	MaxPause     time.Duration // the longest pause
	DisableAfter time.Duration // 0: never disable
}

// DefaultHealth is the policy of the zero fields of Config.Health: the
// circuit opens after 10 consecutive failed attempts, pausing the
// destination for a minute, then twice as long after each failed probe up
// to an hour; a destination failing with no success for 5 days is
// disabled.
var DefaultHealth = Health{
	OpenAfter:    10,
	Pause:        time.Minute,
	MaxPause:     time.Hour,
	DisableAfter: 5 * 24 * time.Hour,
}

// withDefaults fills h's zero fields from DefaultHealth.
func (h Health) withDefaults() Health {
	h.OpenAfter = cmp.Or(h.OpenAfter, DefaultHealth.OpenAfter)
	h.Pause = cmp.Or(h.Pause, DefaultHealth.Pause)
	h.MaxPause = cmp.Or(h.MaxPause, DefaultHealth.MaxPause)
	h.DisableAfter = cmp.Or(h.DisableAfter, DefaultHealth.DisableAfter)
	return h
}

// pauseAfter returns the pause that follows the given pause; the first
// pause follows a zero one. A zero MaxPause sets no limit.
func (h Health) pauseAfter(last time.Duration) time.Duration {
	next := h.Pause
	if last > 0 {
		next = 2 * last
	}
	if h.MaxPause > 0 {
		next = min(next, h.MaxPause)
	}
	return next
}

// mayDisable reports whether recording r could disable its destination,
// so that the notice saying so is sealed before the transaction.
func (h Health) mayDisable(r *sluice.AttemptResult) bool {
	return r.DisableDestination != "" ||
		r.Attempt.Outcome == sluice.AttemptFailed && r.CountsForHealth && h.DisableAfter > 0
}

// healthChange is what recording an attempt did to its destination.
type healthChange struct {
	changed bool   // the health must be written
	opened  bool   // the circuit opened: the destination is now paused
	closed  bool   // the circuit closed: a success ended a pause
	disable string // the destination is now disabled with this reason
}

// auditAction names the audit entry of the circuit's change, if any:
// destination.pause when it opened, destination.resume when it closed.
func (c healthChange) auditAction() string {
	switch {
	case c.opened:
		return "destination.pause"
	case c.closed:
		return "destination.resume"
	}
	return ""
}

// nextHealth moves a destination's health h on by the attempt r records,
// as the policy says.
func (p Health) nextHealth(h DestinationHealth, r *sluice.AttemptResult) (DestinationHealth, healthChange) {
	var ch healthChange
	if r.DisableDestination != "" && h.Enabled {
		ch.disable = r.DisableDestination
	}
	if !r.CountsForHealth {
		return h, ch
	}
	a := &r.Attempt
	if a.Outcome == sluice.AttemptSucceeded {
		if h.Failures == 0 && h.PausedUntil.IsZero() {
			return h, ch
		}
		ch.changed, ch.closed = true, !h.PausedUntil.IsZero()
		return DestinationHealth{Enabled: h.Enabled}, ch
	}
	end := a.At.Add(a.Duration)
	ch.changed = true
	h.Failures++
	if h.FailingSince.IsZero() {
		h.FailingSince = a.At
	}
	if ch.disable == "" && h.Enabled && p.DisableAfter > 0 && end.Sub(h.FailingSince) >= p.DisableAfter {
		ch.disable = sluice.DisabledFailing
	}
	if p.OpenAfter <= 0 || h.Failures < p.OpenAfter {
		return h, ch
	}
	switch {
	case h.PausedUntil.IsZero():
		ch.opened = true
		h.Pause = p.pauseAfter(0)
	case !a.At.Before(h.PausedAt):
		// The probe failed: it started after the pause began.
		h.Pause = p.pauseAfter(h.Pause)
	default:
		// An attempt already under way when the circuit opened: it
		// counts, but does not lengthen the pause.
		return h, ch
	}
	h.PausedAt, h.PausedUntil = end, end.Add(h.Pause)
	return h, ch
}

// needsLock reports whether recording r may change its destination's
// health whatever it is now, so it is read to change: a failure, or a 410.
// A success changes a failing or paused destination only, which is seen
// from a plain read.
func needsLock(r *sluice.AttemptResult) bool {
	return r.Attempt.Outcome != sluice.AttemptSucceeded || r.DisableDestination != ""
}
