// Package anomaly watches the flow of events for patterns worth an alert,
// from counts alone, never reading a payload: bursts (a source's event type
// arriving far above its usual rate) and verification failures piling up on
// a source. Schema drift is found where events are stored (see
// sluice.NewEvent.Drift).
//
// A Detector keeps its counts in memory, per process: with several
// processes each sees its share of the traffic.
package anomaly

import (
	"fmt"
	"sync"
	"time"
)

// Defaults for the zero fields of a Detector.
const (
	DefaultWindow       = 10 * time.Second
	DefaultFactor       = 5.0
	DefaultMinBurst     = 50
	DefaultAuthFailures = 10
	DefaultCooldown     = 10 * time.Minute
	DefaultWarmup       = 3
)

// maxKeys bounds the counters kept; when full they start again empty.
const maxKeys = 10000

// alpha weighs the last window in the moving baseline.
const alpha = 0.3

// Detector finds bursts and verification failures. The zero Detector uses
// the defaults; it is safe for concurrent use.
type Detector struct {
	// Window is the length of the windows events are counted in.
	Window time.Duration
	// Factor and MinBurst make a burst: a window whose count exceeds
	// Factor times the moving baseline and is at least MinBurst.
	Factor   float64
	MinBurst int
	// Warmup is how many windows a key must have been seen in before its
	// baseline is trusted.
	Warmup int
	// AuthFailures verification failures of a source within one window
	// raise an alert.
	AuthFailures int
	// Cooldown is the least time between two alerts of one key and kind.
	Cooldown time.Duration

	mu       sync.Mutex
	rates    map[string]*rate
	failures map[string]*rate
	loops    map[string]*rate
}

// slots is how many parts a window is counted in. The count compared
// with a limit is that of the last slots parts, the window sliding by a
// part at a time: a burst that straddles two fixed windows, half in each,
// still shows whole.
const slots = 10

// rate counts one key's events: over the window sliding to now, for
// alerts, and per fixed window for the moving baseline of past windows.
type rate struct {
	parts [slots]int // the last slots parts of a window, a ring
	part  time.Time  // start of the current part, at parts[head]
	head  int

	window    time.Time // start of the current fixed window
	count     int       // its events
	baseline  float64
	windows   int // fixed windows completed
	lastAlert time.Time
}

// add counts one event in the current part and the current window.
func (r *rate) add() {
	r.parts[r.head]++
	r.count++
}

// sliding is the count of the window that ends now.
func (r *rate) sliding() int {
	n := 0
	for _, c := range r.parts {
		n += c
	}
	return n
}

// Event counts an event of the source ("" for published ones) and type and
// reports a burst, with its description, when this event makes one.
func (d *Detector) Event(tenantID, sourceID, eventType string, now time.Time) (burst bool, detail string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.rates, tenantID+"\x00"+sourceID+"\x00"+eventType, now)
	r.add()
	n := r.sliding()
	limit := max(d.factor()*r.baseline, float64(d.minBurst()))
	if r.windows < d.warmup() || float64(n) <= limit || !d.cooledDown(r, now) {
		return false, ""
	}
	r.lastAlert = now
	return true, fmt.Sprintf("%d events in %s, against a usual %.1f", n, d.window(), r.baseline)
}

// AuthFailure counts a verification failure of the source and reports,
// with its description, when failures have piled up.
func (d *Detector) AuthFailure(tenantID, sourceID string, now time.Time) (alert bool, detail string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.failures, tenantID+"\x00"+sourceID, now)
	r.add()
	n := r.sliding()
	if n < d.authFailures() || !d.cooledDown(r, now) {
		return false, ""
	}
	r.lastAlert = now
	return true, fmt.Sprintf("%d verification failures in %s", n, d.window())
}

// Loop notes an event of the source refused as a loop and reports whether
// to alert: the first time, and again once the cooldown has passed.
func (d *Detector) Loop(tenantID, sourceID string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.counter(&d.loops, tenantID+"\x00"+sourceID, now)
	r.add()
	if !d.cooledDown(r, now) {
		return false
	}
	r.lastAlert = now
	return true
}

// counter returns key's rate with its window brought up to now: the
// parts that ended are dropped from the sliding window, and each fixed
// window that ended is folded into the baseline, an empty one as zero.
func (d *Detector) counter(m *map[string]*rate, key string, now time.Time) *rate {
	if *m == nil || len(*m) >= maxKeys {
		*m = make(map[string]*rate)
	}
	r := (*m)[key]
	start := now.Truncate(d.window())
	part := d.window() / slots
	if r == nil {
		r = &rate{window: start, part: now.Truncate(part)}
		(*m)[key] = r
	}
	if now.Sub(r.part) >= d.window() { // the whole sliding window has passed
		r.parts, r.part = [slots]int{}, now.Truncate(part)
	}
	for now.Sub(r.part) >= part {
		r.head = (r.head + 1) % slots
		r.parts[r.head] = 0
		r.part = r.part.Add(part)
	}
	for r.window.Before(start) {
		r.baseline = alpha*float64(r.count) + (1-alpha)*r.baseline
		r.count, r.windows = 0, r.windows+1
		r.window = r.window.Add(d.window())
		if r.windows > 100 && r.baseline < 0.01 { // long idle: skip ahead
			r.window = start
		}
	}
	return r
}

func (d *Detector) cooledDown(r *rate, now time.Time) bool {
	return r.lastAlert.IsZero() || now.Sub(r.lastAlert) >= d.cooldown()
}

func (d *Detector) window() time.Duration   { return orDefault(d.Window, DefaultWindow) }
func (d *Detector) cooldown() time.Duration { return orDefault(d.Cooldown, DefaultCooldown) }

func (d *Detector) factor() float64 {
	if d.Factor > 0 {
		return d.Factor
	}
	return DefaultFactor
}

func (d *Detector) minBurst() int     { return orDefault(d.MinBurst, DefaultMinBurst) }
func (d *Detector) warmup() int       { return orDefault(d.Warmup, DefaultWarmup) }
func (d *Detector) authFailures() int { return orDefault(d.AuthFailures, DefaultAuthFailures) }

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
