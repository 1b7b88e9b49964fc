package storekit

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// DestinationHealth is a destination's health columns, and its switch.
// Zero times are NULL.
type DestinationHealth struct {
	Enabled      bool
	Failures     int
	FailingSince time.Time
	PausedAt     time.Time     // when the circuit last opened, or a probe failed
	Pause        time.Duration // the length of that pause
	PausedUntil  time.Time
}

// HealthChange is what recording an attempt did to its destination.
type HealthChange struct {
	Changed bool   // the health columns must be written
	Opened  bool   // the circuit opened: the destination is now paused
	Closed  bool   // the circuit closed: a success ended a pause
	Disable string // the destination is now disabled with this reason
}

// AuditActions names the audit entries of the circuit's change:
// destination.pause when it opened, destination.resume when it closed.
func (c HealthChange) AuditActions() []string {
	switch {
	case c.Opened:
		return []string{"destination.pause"}
	case c.Closed:
		return []string{"destination.resume"}
	}
	return nil
}

// NextHealth moves a destination's health h on by the attempt r records,
// as r.Health says (see sluice.Health).
func NextHealth(h DestinationHealth, r *sluice.AttemptResult) (DestinationHealth, HealthChange) {
	var ch HealthChange
	if r.DisableDestination != "" && h.Enabled {
		ch.Disable = r.DisableDestination
	}
	if !r.CountsForHealth {
		return h, ch
	}
	a := &r.Attempt
	if a.Outcome == sluice.AttemptSucceeded {
		if h.Failures == 0 && h.PausedUntil.IsZero() {
			return h, ch
		}
		ch.Changed, ch.Closed = true, !h.PausedUntil.IsZero()
		return DestinationHealth{Enabled: h.Enabled}, ch
	}
	end := a.At.Add(a.Duration)
	ch.Changed = true
	h.Failures++
	if h.FailingSince.IsZero() {
		h.FailingSince = a.At
	}
	policy := r.Health
	if ch.Disable == "" && h.Enabled && policy.DisableAfter > 0 && end.Sub(h.FailingSince) >= policy.DisableAfter {
		ch.Disable = sluice.DisabledFailing
	}
	if policy.OpenAfter <= 0 || h.Failures < policy.OpenAfter {
		return h, ch
	}
	switch {
	case h.PausedUntil.IsZero():
		ch.Opened = true
		h.Pause = policy.PauseAfter(0)
	case !a.At.Before(h.PausedAt):
		// The probe failed: it started after the pause began.
		h.Pause = policy.PauseAfter(h.Pause)
	default:
		// An attempt already under way when the circuit opened: it
		// counts, but does not lengthen the pause.
		return h, ch
	}
	h.PausedAt, h.PausedUntil = end, end.Add(h.Pause)
	return h, ch
}

// Notice is an operational event sealed for its rows.
type Notice struct {
	Event  *sluice.NewEvent
	Sealed *SealedEvent
}

// SealNotices seals the notices that recording r may store, before the
// store's transaction: r.Notices, and, if r may disable its destination,
// the sluice.destination.disabled notice (nil otherwise), stored only if
// it does.
func (k *Keyring) SealNotices(ctx context.Context, r *sluice.AttemptResult) ([]Notice, *Notice, error) {
	seal := func(e *sluice.NewEvent) (Notice, error) {
		sealed, err := k.SealEvent(ctx, e)
		return Notice{Event: e, Sealed: sealed}, err
	}
	notices := make([]Notice, 0, len(r.Notices))
	for _, e := range r.Notices {
		n, err := seal(e)
		if err != nil {
			return nil, nil, err
		}
		notices = append(notices, n)
	}
	a := &r.Attempt
	reason := r.DisableDestination
	if reason == "" && a.Outcome == sluice.AttemptFailed && r.CountsForHealth && r.Health.DisableAfter > 0 {
		reason = sluice.DisabledFailing
	}
	if reason == "" {
		return notices, nil, nil
	}
	at := a.At.Add(a.Duration).UTC()
	e, err := sluice.NewNotice(a.TenantID, sluice.NoticeDestinationDisabled,
		sluice.DestinationNotice{DestinationID: a.DestinationID, Reason: reason, At: at}, at, r.Health.NoticeRetention)
	if err != nil {
		return nil, nil, err
	}
	disabled, err := seal(e)
	if err != nil {
		return nil, nil, err
	}
	return notices, &disabled, nil
}
